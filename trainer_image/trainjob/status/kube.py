"""The in-cluster API access of a worker pod, and the status sink built on it.

A pod authenticates with its own projected ServiceAccount token (re-read on every request,
since the kubelet rotates it) and trusts the cluster CA, both at the standard paths. It needs
nothing beyond the standard library, so any worker image that has trainjob can report.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from trainjob.contract import JobIdentity
from trainjob.status.writer import PermanentWriteError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
GROUP, VERSION, PLURAL = "trainjob.dev", "v1alpha1", "trainjobs"

#: Status codes that retrying cannot fix: bad request, unauthorised, forbidden, gone, invalid.
PERMANENT_STATUS_CODES = frozenset({400, 401, 403, 404, 405, 410, 415, 422})


@dataclass(frozen=True)
class ClusterAccess:
    """How a pod reaches the apiserver: its address, the CA to trust, and the token file."""

    server: str
    ca_file: Path
    token_file: Path
    _context: ssl.SSLContext = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_context", ssl.create_default_context(cafile=str(self.ca_file)))

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

    def open(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout_s: float,
    ) -> HTTPResponse:
        """Send one authenticated request; the caller reads and closes the response.

        Raises `urllib.error.HTTPError` for an error status and `OSError` when unreachable.
        """
        request = urllib.request.Request(f"{self.server}{path}", data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        request.add_header("Accept", "application/json")
        request.add_header("Authorization", f"Bearer {self.token_file.read_text().strip()}")
        return urllib.request.urlopen(request, timeout=timeout_s, context=self._context)


def trainjob_path(job: JobIdentity, subresource: str = "") -> str:
    """The API path of one TrainJob (or of one of its subresources)."""
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{job.namespace}/{PLURAL}/{job.name}"
    return f"{path}/{subresource}" if subresource else path


def api_error_message(error: urllib.error.HTTPError) -> str:
    """The apiserver's own message in an error response, or the HTTP reason."""
    try:
        return str(json.loads(error.read()).get("message", error.reason))
    except (ValueError, OSError):
        return str(error.reason)


class KubeStatusSink:
    """Writes status fragments to one TrainJob with `PATCH .../trainjobs/NAME/status`.

    Only the fields in the fragment change: the operator's phase and conditions are never
    touched. After each write, `last_object` holds the TrainJob as the apiserver returned it.
    """

    def __init__(self, access: ClusterAccess, job: JobIdentity, timeout_s: float = 10.0) -> None:
        self.access = access
        self.job = job
        self.timeout_s = timeout_s
        self.path = trainjob_path(job, "status")
        self.last_object: dict[str, Any] | None = None

    def write(self, fragment: dict[str, Any]) -> None:
        """Apply `fragment` under `status` as a merge patch."""
        body = json.dumps({"status": fragment}).encode()
        try:
            with self.access.open(
                "PATCH",
                self.path,
                body=body,
                content_type="application/merge-patch+json",
                timeout_s=self.timeout_s,
            ) as response:
                self.last_object = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            message = f"PATCH {self.job.namespace}/{self.job.name} status: HTTP {error.code} "
            message += api_error_message(error)
            if error.code in PERMANENT_STATUS_CODES:
                raise PermanentWriteError(message) from error
            raise ConnectionError(message) from error


def cluster_access_from_environment(
    job: JobIdentity | None, environ: Mapping[str, str] | None = None
) -> ClusterAccess | None:
    """This pod's API access when it runs for a TrainJob in a cluster, else None."""
    if job is None:
        return None
    return ClusterAccess.in_cluster(os.environ if environ is None else environ)
