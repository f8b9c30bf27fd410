"""Cluster DNS as /etc/hosts lines: the records CoreDNS serves for headless Services.

Built from EndpointSlices like CoreDNS: for each ready endpoint of a headless Service,
`<service>.<ns>.svc.cluster.local` and, when the endpoint has a hostname (a pod with
spec.hostname and spec.subdomain = the Service), `<hostname>.<service>.<ns>.svc.cluster.local`.
A hosts file has no search path, so the short forms a pod would resolve through its search
domains (`<hostname>.<service>`, `<hostname>.<service>.<ns>`, `... .svc`) are listed too.
"""

from __future__ import annotations

import threading
from typing import Any

CLUSTER_DOMAIN = "cluster.local"
_HEADLESS = "service.kubernetes.io/headless"
_SERVICE_NAME = "kubernetes.io/service-name"


def names(relative: str, namespace: str, pod_namespace: str) -> list[str]:
    """Every name a pod in pod_namespace may use for <relative>.<namespace>.svc.cluster.local."""
    forms = [
        f"{relative}.{namespace}.svc.{CLUSTER_DOMAIN}",
        f"{relative}.{namespace}.svc",
        f"{relative}.{namespace}",
    ]
    return [*forms, relative] if namespace == pod_namespace else forms


class ClusterDns:
    """The current DNS records, fed with EndpointSlice events."""

    def __init__(self) -> None:
        self._slices: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def on_event(self, kind: str, endpoint_slice: dict[str, Any]) -> None:
        """Track one EndpointSlice event (informer handler)."""
        uid = endpoint_slice["metadata"]["uid"]
        with self._lock:
            if kind == "DELETED" or _HEADLESS not in endpoint_slice["metadata"].get("labels", {}):
                self._slices.pop(uid, None)
            else:
                self._slices[uid] = endpoint_slice

    def hosts_lines(self, pod_namespace: str) -> list[str]:
        """hosts(5) lines with every record, named as seen from a pod in pod_namespace."""
        lines = []
        with self._lock:
            slices = list(self._slices.values())
        for endpoint_slice in sorted(
            slices, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])
        ):
            namespace = endpoint_slice["metadata"]["namespace"]
            service = endpoint_slice["metadata"]["labels"][_SERVICE_NAME]
            for endpoint in endpoint_slice.get("endpoints") or []:
                if endpoint.get("conditions", {}).get("ready") is False:
                    continue
                for address in endpoint["addresses"]:
                    if endpoint.get("hostname"):
                        relative = f"{endpoint['hostname']}.{service}"
                        lines.append(f"{address}\t{' '.join(names(relative, namespace, pod_namespace))}")
                    lines.append(f"{address}\t{' '.join(names(service, namespace, pod_namespace))}")
        return lines
