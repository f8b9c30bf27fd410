"""TestNode: the harness that plays the kubelet for the control plane.

It authenticates as system:node:<name> (so the Node authorizer and NodeRestriction apply to
it as to a kubelet), registers a Ready Node, renews its Lease, watches the pods the real
scheduler binds to it and runs each one (podworker.py). A cluster-DNS stand-in keeps every
pod's /etc/hosts in step with the EndpointSlices of headless Services (dns.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dns import ClusterDns
from .informer import run_informer
from .kube import ApiError
from .kubelet_server import ContainerLog, KubeletServer, LogUnavailable
from .layers import WritableLayers
from .podspec import Lookup, object_data
from .podworker import PodWorker, now
from .volumes import Fetch

if TYPE_CHECKING:
    from .controlplane import ControlPlane
    from .network import PodNetwork

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CAPACITY = {"cpu": "32", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
LEASE_SECONDS = 40
HEARTBEAT_SECONDS = 10.0


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class TestNode:
    """A Node of the control plane whose pods run as local processes (or only look Running).

    run_processes=False marks bound pods Running without starting anything (for scale
    benchmarks) and finishes them when they are deleted. Pod commands run with this
    Python environment's bin/ first on PATH, in `workdir` unless the container sets workingDir.
    """

    __test__ = False  # a harness, not a pytest test class

    def __init__(
        self,
        control_plane: ControlPlane,
        name: str = "test-node",
        *,
        labels: Mapping[str, str] | None = None,
        capacity: Mapping[str, str] | None = None,
        run_processes: bool = True,
        workdir: Path = REPO_ROOT,
    ) -> None:
        assert control_plane.network is not None, "start the control plane first"
        self.name = name
        self.control_plane = control_plane
        self.network: PodNetwork = control_plane.network
        self.ip = control_plane.host
        self.run_processes = run_processes
        self.workdir = workdir
        self.allocatable = dict(capacity or DEFAULT_CAPACITY)
        self.labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "trainjob.dev/test-node": "true",
            **(labels or {}),
        }
        self.dir = control_plane.dir / "nodes" / name
        self.kube = control_plane.client(f"system:node:{name}", ("system:nodes",))
        self.service_env = _kubernetes_service_env(control_plane.host, control_plane.port)
        self.dns = ClusterDns()
        self.layers = WritableLayers(name)
        self._workers: dict[str, PodWorker] = {}
        self._sandboxes: set[PodWorker] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.kubelet: KubeletServer | None = None

    def __enter__(self) -> TestNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Register the Node and its Lease, then start the heartbeat, DNS and pod loops."""
        self.dir.mkdir(parents=True, exist_ok=True)
        ca = self.control_plane.ca
        serving = ca.issue(
            f"kubelet-{self.name}", f"system:node:{self.name}", dns_names=(self.name,), ips=(self.ip,)
        )
        self.kubelet = KubeletServer(self.ip, serving, ca.cert, self.container_log)
        self.kubelet.start()
        self._register()
        self._loop(self._heartbeat)
        if self.run_processes:  # the cluster DNS stand-in reads EndpointSlices as CoreDNS would
            slices = "/apis/discovery.k8s.io/v1/endpointslices"
            self._loop(run_informer, self.control_plane.admin, slices, self._on_slice, self._stop)
        selector = f"spec.nodeName={self.name}"
        self._loop(run_informer, self.kube, "/api/v1/pods", self._on_pod, self._stop, fieldSelector=selector)

    def stop(self) -> None:
        """Kill every pod at once, stop the loops and remove the Node and its Lease."""
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.shutdown()
        for worker in workers:
            worker.thread.join(timeout=15)
        self.layers.close()
        if self.kubelet is not None:
            self.kubelet.stop()
        for path in (
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}",
            f"/api/v1/nodes/{self.name}",
        ):
            with contextlib.suppress(ApiError, OSError):
                self.control_plane.admin.delete(path)

    def logs(self, namespace: str, name: str, container: str | None = None, previous: bool = False) -> str:
        """A container's output (like `kubectl logs [--previous]`); the first container by default."""
        if container is None:
            pod_dir = self._pod_dir(namespace, name)
            container = json.loads((pod_dir / "pod.json").read_text())["spec"]["containers"][0]["name"]
        return self.container_log(namespace, name, container, previous).path.read_text(errors="replace")

    def log_tails(self, namespace: str, lines: int = 40) -> str:
        """The last `lines` of every container run of every pod the namespace had on this node,
        deleted pods included, oldest pod first: what a failed test prints to show why."""
        parts = []
        pods = sorted(self.dir.glob(f"pods/{namespace}_*"), key=lambda p: p.stat().st_mtime)
        for pod_dir in pods:
            for run in sorted(pod_dir.glob("*/*.log")):
                tail = run.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {pod_dir.name} {run.parent.name} run {run.stem}\n" + "\n".join(tail))
        return "\n".join(parts)

    def container_log(
        self, namespace: str, name: str, container: str, previous: bool = False
    ) -> ContainerLog:
        """The log of a container's current (or previous) run, as the kubelet API serves it."""
        worker = self._worker(namespace, name)
        pod_dir = self._pod_dir(namespace, name)
        runs = sorted((pod_dir / container).glob("*.log"), key=lambda p: int(p.stem))
        if previous:
            if len(runs) < 2:
                raise LogUnavailable(
                    400, f'previous terminated container "{container}" in pod "{name}" not found'
                )
            return ContainerLog(runs[-2], running=lambda: False)
        if not runs:
            if worker is not None and worker.has_container(container):
                raise LogUnavailable(400, f'container "{container}" in pod "{name}" is waiting to start')
            raise LogUnavailable(404, f'container "{container}" in pod "{name}" is not available')
        run = int(runs[-1].stem)
        return ContainerLog(
            runs[-1], running=lambda: worker is not None and worker.is_running(container, run)
        )

    def _worker(self, namespace: str, name: str) -> PodWorker | None:
        with self._lock:
            workers = [w for w in self._workers.values() if (w.namespace, w.name) == (namespace, name)]
        return workers[-1] if workers else None

    def _pod_dir(self, namespace: str, name: str) -> Path:
        """The directory of the pod's latest incarnation on this node."""
        worker = self._worker(namespace, name)
        if worker is not None:
            return worker.dir
        pods = sorted(self.dir.glob(f"pods/{namespace}_{name}_*"), key=lambda p: p.stat().st_mtime)
        if not pods:
            raise LogUnavailable(404, f'pod "{name}" in namespace "{namespace}" not found on {self.name}')
        return pods[-1]

    def kill(
        self,
        namespace: str,
        name: str,
        container: str | None = None,
        sig: int = signal.SIGKILL,
        *,
        reason: str | None = None,
    ) -> None:
        """Signal a running container's PID 1 (default SIGKILL: a crash, as if the process died).

        `reason` is what the container's termination reports instead of Error: "OOMKilled" with
        SIGKILL reads as the kernel's OOM killer did it (exit code 137), as a kubelet reports it.
        """
        with self._lock:
            workers = [w for w in self._workers.values() if (w.namespace, w.name) == (namespace, name)]
        if not workers:
            raise ProcessLookupError(f"no pod {namespace}/{name} runs on {self.name}")
        workers[-1].signal_container(container, signal.Signals(sig), reason)

    # -- used by pod workers ---------------------------------------------------------------
    def fetch(self, namespace: str) -> Fetch:
        """Get ConfigMaps, Secrets, PersistentVolumeClaims of a namespace, and PersistentVolumes,
        with the node's identity (the Node authorizer allows those of its pods); None when absent."""

        def get(kind: str, name: str) -> dict[str, Any] | None:
            scope = "" if kind == "persistentvolumes" else f"/namespaces/{namespace}"
            try:
                return self.kube.get(f"/api/v1{scope}/{kind}/{name}")
            except ApiError as error:
                if error.status == 404:
                    return None
                raise

        return get

    def lookup(self, namespace: str) -> Lookup:
        """ConfigMap/Secret data as text, for environment variables."""
        fetch = self.fetch(namespace)

        def data(kind: str, _namespace: str, name: str) -> dict[str, str] | None:
            obj = fetch(kind, name)
            return (
                None if obj is None else {k: v.decode(errors="replace") for k, v in object_data(obj).items()}
            )

        return data

    def register_sandbox(self, worker: PodWorker) -> None:
        """A pod with a network namespace: keep its /etc/hosts in step with cluster DNS."""
        with self._lock:
            self._sandboxes.add(worker)

    def forget_sandbox(self, worker: PodWorker) -> None:
        """The pod's namespace is gone."""
        with self._lock:
            self._sandboxes.discard(worker)

    # -- loops -------------------------------------------------------------------------------
    def _loop(self, target: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        threading.Thread(
            target=target, args=args, kwargs=kwargs, name=f"{self.name}-loop", daemon=True
        ).start()

    def _on_pod(self, kind: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        with self._lock:
            worker = self._workers.get(uid)
            if kind == "DELETED":
                if worker:
                    worker.gone()
                    del self._workers[uid]
                return
            if worker is None:
                worker = self._workers[uid] = PodWorker(self, pod)
                worker.thread.start()
        worker.update(pod)

    def _on_slice(self, kind: str, endpoint_slice: dict[str, Any]) -> None:
        self.dns.on_event(kind, endpoint_slice)
        with self._lock:
            sandboxes = list(self._sandboxes)
        for worker in sandboxes:
            worker.write_etc()

    def _conditions(self) -> list[dict[str, Any]]:
        """The node's conditions as a healthy kubelet reports them."""
        conditions = [
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ]
        return [
            {
                "type": t,
                "status": s,
                "reason": r,
                "message": m,
                "lastHeartbeatTime": now(),
                "lastTransitionTime": now(),
            }
            for t, s, r, m in conditions
        ]

    def _register(self) -> None:
        status = {
            "capacity": self.allocatable,
            "allocatable": self.allocatable,
            "conditions": self._conditions(),
            "addresses": [
                {"type": "InternalIP", "address": self.ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet.port if self.kubelet else 0}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": "",
                "osImage": "trainjob test node",
                "containerRuntimeVersion": "testnode://1",
                "kubeletVersion": self.control_plane.version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {},
        }
        try:
            created = self.kube.create("/api/v1/nodes", {**node, "status": status})
        except ApiError as error:
            if error.status != 409:
                raise
            created = self.kube.patch(f"/api/v1/nodes/{self.name}", {"metadata": {"labels": self.labels}})
        self.kube.patch(f"/api/v1/nodes/{self.name}/status", {"status": status})
        owner = {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": created["metadata"]["uid"]}
        lease = {
            "metadata": {"name": self.name, "ownerReferences": [owner]},
            "spec": {
                "holderIdentity": self.name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": _micro_now(),
            },
        }
        try:
            self.kube.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)
        except ApiError as error:
            if error.status != 409:
                raise

    def _heartbeat(self) -> None:
        """Renew the Lease. When the node lifecycle controller marked the node not Ready (renewals
        were missed, say through an apiserver outage), post it Ready again and rewrite the pods'
        status (the controller marked them not Ready too), as a kubelet does."""
        lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        node = f"/api/v1/nodes/{self.name}"
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self.kube.patch(lease, {"spec": {"renewTime": _micro_now()}}, kind="merge")
                conditions = self.kube.get(node).get("status", {}).get("conditions") or []
                if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    self.kube.patch(f"{node}/status", {"status": {"conditions": self._conditions()}})
                    with self._lock:
                        workers = list(self._workers.values())
                    for worker in workers:
                        worker.resync_status()
            except (ApiError, OSError) as error:
                log.warning("node %s: heartbeat failed: %s", self.name, error)


def _kubernetes_service_env(host: str, port: int) -> dict[str, str]:
    """The variables kubelet sets for the `kubernetes` Service, pointing at the apiserver itself."""
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }
