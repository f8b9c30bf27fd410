"""A small JSON client for the Kubernetes API, on the standard library only.

The harness talks to the apiserver the way a kubelet does (its own client certificate,
plain REST calls, watches); tests use the same client with an admin certificate or a
ServiceAccount token to check what the apiserver allows.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PATCH_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
}


class ApiError(Exception):
    """A non-2xx answer from the apiserver, with its HTTP status and decoded Status body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body.get('reason', '')}: {body.get('message', body)}")
        self.status = status
        self.body = body


class Kube:
    """JSON requests against one apiserver with one identity (client certificate or bearer token)."""

    def __init__(
        self,
        server: str,
        ca_file: Path,
        *,
        cert: tuple[Path, Path] | None = None,
        token: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.timeout = timeout
        self._context = ssl.create_default_context(cafile=str(ca_file))
        if cert:
            self._context.load_cert_chain(str(cert[0]), str(cert[1]))
        self._token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Send one request and return the decoded JSON answer; raise ApiError on failure."""
        with self._open(method, path, body, query=query, content_type=content_type) as response:
            data = response.read()
        return json.loads(data) if data else {}

    def text(self, path: str) -> str:
        """GET an endpoint that answers plain text (/readyz, /livez)."""
        with self._open("GET", path, None) as response:
            return response.read().decode()

    def get(self, path: str, **query: Any) -> dict[str, Any]:
        """GET a resource or a list."""
        return self.request("GET", path, query=query)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a new object to a collection path."""
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any, kind: str = "strategic") -> dict[str, Any]:
        """PATCH an object; kind is strategic, merge or json."""
        return self.request("PATCH", path, body, content_type=PATCH_TYPES[kind])

    def delete(self, path: str, body: dict[str, Any] | None = None, **query: Any) -> dict[str, Any]:
        """DELETE an object (body: DeleteOptions)."""
        return self.request("DELETE", path, body, query=query)

    def watch(
        self, path: str, resource_version: str, timeout_seconds: int = 60, **query: Any
    ) -> Iterator[dict]:
        """Yield watch events (type, object) from resource_version until the server ends the watch."""
        query = {**query, "watch": "true", "resourceVersion": resource_version}
        query["timeoutSeconds"] = timeout_seconds
        query["allowWatchBookmarks"] = "true"
        with self._open("GET", path, None, query=query, timeout=timeout_seconds + 10) as response:
            for line in response:
                if line.strip():
                    yield json.loads(line)

    def _open(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        url = self.server + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            return urllib.request.urlopen(request, context=self._context, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = {"message": raw.decode(errors="replace")}
            raise ApiError(error.code, decoded) from None
