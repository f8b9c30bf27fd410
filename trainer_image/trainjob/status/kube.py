"""The in-cluster status sink: a JSON merge patch to the TrainJob's `status` subresource.

It authenticates with the pod's own projected ServiceAccount token (re-read on every write,
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
from dataclasses import dataclass
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


class KubeStatusSink:
    """Writes status fragments to one TrainJob with `PATCH .../trainjobs/NAME/status`.

    Only the fields in the fragment change: the operator's phase and conditions are never
    touched. After each write, `last_object` holds the TrainJob as the apiserver returned it.
    """

    def __init__(self, access: ClusterAccess, job: JobIdentity, timeout_s: float = 10.0) -> None:
        self.access = access
        self.job = job
        self.timeout_s = timeout_s
        self.url = (
            f"{access.server}/apis/{GROUP}/{VERSION}/namespaces/{job.namespace}/{PLURAL}/{job.name}/status"
        )
        self._context = ssl.create_default_context(cafile=str(access.ca_file))
        self.last_object: dict[str, Any] | None = None

    def write(self, fragment: dict[str, Any]) -> None:
        """Apply `fragment` under `status` as a merge patch."""
        body = json.dumps({"status": fragment}).encode()
        request = urllib.request.Request(self.url, data=body, method="PATCH")
        request.add_header("Content-Type", "application/merge-patch+json")
        request.add_header("Accept", "application/json")
        request.add_header("Authorization", f"Bearer {self.access.token_file.read_text().strip()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self._context) as response:
                self.last_object = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = _api_message(error)
            message = f"PATCH {self.job.namespace}/{self.job.name} status: HTTP {error.code} {detail}"
            if error.code in PERMANENT_STATUS_CODES:
                raise PermanentWriteError(message) from error
            raise ConnectionError(message) from error


def _api_message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read()).get("message", error.reason))
    except (ValueError, OSError):
        return str(error.reason)


def kube_sink_from_environment(
    job: JobIdentity | None, environ: Mapping[str, str] | None = None
) -> KubeStatusSink | None:
    """A sink for this pod's TrainJob, or None outside a cluster or outside a TrainJob."""
    if job is None:
        return None
    access = ClusterAccess.in_cluster(os.environ if environ is None else environ)
    return KubeStatusSink(access, job) if access else None
