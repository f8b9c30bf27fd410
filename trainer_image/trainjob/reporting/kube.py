"""The in-cluster API access of a worker pod, and the status sink built on it.

A pod authenticates with its own projected ServiceAccount token (re-read on every request,
since the kubelet rotates it) and trusts the cluster CA, both at the standard paths. It needs
nothing beyond the standard library, so any worker image that has trainjob can report.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainjob.reporting.writer import PermanentWriteError, RefusedWriteError
from trainjob_api.contract import JobIdentity
from trainjob_api.names import GROUP, PLURAL, VERSION

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

#: Status codes that retrying cannot fix: bad request, unauthorised, forbidden, gone, invalid.
PERMANENT_STATUS_CODES = frozenset({400, 401, 403, 404, 405, 410, 415, 422})
#: Of those, the answers about who asks or what is there (unauthorised, forbidden, not found):
#: an apiserver that has just restarted gives them until its caches sync, so they are retried.
REFUSED_STATUS_CODES = frozenset({401, 403, 404})


@dataclass(frozen=True)
class ClusterAccess:
    """How a pod reaches the apiserver: its address, the CA to trust, and the token file."""

    server: str
    ca_file: Path
    token_file: Path
    ssl_context: ssl.SSLContext = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ssl_context", ssl.create_default_context(cafile=str(self.ca_file)))

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str], account_dir: Path = SERVICE_ACCOUNT_DIR
    ) -> ClusterAccess | None:
        """The access a pod has, or None when this process does not run in a pod."""
        host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
        token_file = account_dir / "token"
        if not host or not token_file.is_file():
            return None
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return cls(f"https://{host}:{port}", account_dir / "ca.crt", token_file)

    def connect(self, timeout_s: float) -> ApiConnection:
        """A new kept-alive connection to the apiserver (for one thread)."""
        return ApiConnection(self, timeout_s)

    def headers(self, content_type: str | None = None) -> dict[str, str]:
        """The headers of every request: the current token (re-read: the kubelet rotates it)."""
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {self.token_file.read_text().strip()}",
        }
        if content_type:
            headers["Content-Type"] = content_type
        return headers


class ApiError(Exception):
    """The apiserver answered with an error status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"HTTP {code} {message}")
        self.code = code
        self.message = message

    @property
    def permanent(self) -> bool:
        """Whether retrying the same request cannot succeed."""
        return self.code in PERMANENT_STATUS_CODES

    @property
    def refused(self) -> bool:
        """Whether the apiserver refused who asks, or found nothing there (401, 403, 404)."""
        return self.code in REFUSED_STATUS_CODES


class ApiConnection:
    """One HTTPS connection to the apiserver, kept alive across requests; not thread-safe.

    Reusing the connection spares a TLS handshake per request, for the pod and the apiserver
    alike. A request on a reused connection that the server has meanwhile closed is retried
    once on a fresh one.
    """

    def __init__(self, access: ClusterAccess, timeout_s: float) -> None:
        self.access = access
        self.timeout_s = timeout_s
        address = urllib.parse.urlsplit(access.server)
        self._host, self._port = address.hostname or "", address.port or 443
        self._connection: http.client.HTTPSConnection | None = None

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> bytes:
        """Send one request and return the response body; raises `ApiError` or `OSError`."""
        reused = self._connection is not None
        try:
            response = self._send(method, path, body, content_type)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            response = self._send(method, path, body, content_type)
        data = response.read()
        if response.status >= 400:
            raise ApiError(response.status, _error_message(data, response.reason))
        return data

    def stream(self, path: str) -> http.client.HTTPResponse:
        """Open a streaming GET (a watch) on this connection; the caller reads it to the end."""
        response = self._send("GET", path, None, None)
        if response.status >= 400:
            raise ApiError(response.status, _error_message(response.read(), response.reason))
        return response

    def interrupt(self) -> None:
        """End a read that another thread is blocked in on this connection (a watch), at once.

        Shuts the socket down beneath TLS: the blocked read sees the stream end, and the
        connection is unusable after (the owner closes it). Safe to call from any thread.
        """
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed or never connected
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _send(
        self, method: str, path: str, body: bytes | None, content_type: str | None
    ) -> http.client.HTTPResponse:
        if self._connection is None:
            self._connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.timeout_s, context=self.access.ssl_context
            )
        try:
            self._connection.request(method, path, body=body, headers=self.access.headers(content_type))
            return self._connection.getresponse()
        except BaseException:
            self.close()
            raise


def _error_message(data: bytes, reason: str) -> str:
    """The apiserver's own message in an error response, or the HTTP reason."""
    try:
        return str(json.loads(data).get("message", reason))
    except (ValueError, AttributeError):
        return reason


def trainjob_path(job: JobIdentity, subresource: str = "") -> str:
    """The API path of one TrainJob (or of one of its subresources)."""
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{job.namespace}/{PLURAL}/{job.name}"
    return f"{path}/{subresource}" if subresource else path


class KubeStatusSink:
    """Writes status fragments to one TrainJob with `PATCH .../trainjobs/NAME/status`.

    Only the fields in the fragment change: the operator's phase and conditions are never
    touched. After each write, `last_object` holds the TrainJob as the apiserver returned it.
    """

    def __init__(self, access: ClusterAccess, job: JobIdentity, timeout_s: float = 10.0) -> None:
        self.job = job
        self.path = trainjob_path(job, "status")
        self._connection = access.connect(timeout_s)
        self._last_response = b"{}"

    @property
    def last_object(self) -> dict[str, Any]:
        """The TrainJob as the apiserver returned it after the last write (parsed on demand)."""
        return json.loads(self._last_response)

    def write(self, fragment: dict[str, Any]) -> None:
        """Apply `fragment` under `status` as a merge patch."""
        body = json.dumps({"status": fragment}).encode()
        try:
            self._last_response = self._connection.request(
                "PATCH", self.path, body, "application/merge-patch+json"
            )
        except ApiError as error:
            raise write_error(f"PATCH {self.job.namespace}/{self.job.name} status", error) from error


def write_error(what: str, error: ApiError) -> Exception:
    """The error a `StatusSink` raises for a failed write: refused, permanent, or else transient."""
    message = f"{what}: {error}"
    if error.refused:
        return RefusedWriteError(message)
    if error.permanent:
        return PermanentWriteError(message)
    return ConnectionError(message)


def cluster_access_from_environment(
    job: JobIdentity | None, environ: Mapping[str, str] | None = None
) -> ClusterAccess | None:
    """This pod's API access when it runs for a TrainJob in a cluster, else None."""
    if job is None:
        return None
    return ClusterAccess.in_cluster(os.environ if environ is None else environ)
