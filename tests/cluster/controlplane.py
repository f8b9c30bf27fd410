"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler, started from the binaries hack/controlplane.sh builds (like envtest).

The apiserver listens on the pod network's gateway address (reachable from the host and
from every pod), authenticates clients by certificate from one throwaway CA and
ServiceAccounts by signed tokens, authorizes with Node,RBAC and runs the default admission
plugins (NamespaceLifecycle, ServiceAccount, PodSecurity, ValidatingAdmissionPolicy, ...)
plus NodeRestriction. Controllers use their own ServiceAccounts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from .kube import ApiError, Kube
from .network import PodNetwork
from .pki import CertificateAuthority, signing_key_pair
from .processes import spawn, stop, tail
from .tools import Cli

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Alpha features on in every component: kube-scheduler's own gang scheduling (the Workload API's
#: PodGroups; GenericWorkload also runs the PodGroup protection controller and admission). Pods
#: without `spec.schedulingGroup` are scheduled as without them.
FEATURE_GATES = {"GenericWorkload": True, "GangScheduling": True}
#: The API the gates need served (alpha APIs are off by default).
RUNTIME_CONFIG = "scheduling.k8s.io/v1alpha2=true"
_DATA_DIR = re.compile(r"^trainjob-cp-(\d+)-")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on host."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _sweep_data_dirs() -> None:
    """Remove data directories left by killed sessions (their owner pid is gone)."""
    for path in Path(tempfile.gettempdir()).glob("trainjob-cp-*"):
        match = _DATA_DIR.match(path.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            shutil.rmtree(path, ignore_errors=True)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler, on temp dirs and free ports.

    Use as a context manager (or start()/stop()). After start: `server` (URL), `kubeconfig`
    (admin), `admin` (a Kube client in system:masters), `network` (the pod network),
    `version` (the apiserver's gitVersion), `kubectl` and `helm` (Cli). Start it from a
    long-lived thread: its processes die with that thread.
    """

    def __init__(
        self,
        bin_dir: Path,
        *,
        startup_timeout: float = 90.0,
        controller_manager_flags: Sequence[str] = (),
        feature_gates: Mapping[str, bool] = FEATURE_GATES,
    ) -> None:
        self.bin_dir = bin_dir
        self.startup_timeout = startup_timeout
        #: `--feature-gates` of the apiserver, the controller manager and the scheduler.
        self.feature_gates = dict(feature_gates)
        #: Extra kube-controller-manager flags (e.g. `--kube-api-qps=200` for scale benchmarks).
        self.controller_manager_flags = tuple(controller_manager_flags)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.network: PodNetwork | None = None
        self._dir: Path | None = None

    @property
    def dir(self) -> Path:
        """The data directory of the running control plane (certificates, logs, etcd, nodes)."""
        assert self._dir is not None, "the control plane is not started"
        return self._dir

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start everything and wait until the apiserver is ready and controllers work."""
        _sweep_data_dirs()
        self._dir = Path(tempfile.mkdtemp(prefix=f"trainjob-cp-{os.getpid()}-"))
        try:
            self.network = PodNetwork()
            self.host = self.network.gateway
            self.port = free_port(self.host)
            self.server = f"https://{self.host}:{self.port}"
            self._etcd_ports = free_port(), free_port()
            self._make_pki()
            self.kubeconfig = self.write_kubeconfig("admin", self._admin_cert)
            self.admin = Kube(self.server, self.ca.cert, cert=self._admin_cert)
            self._start_etcd()
            self._start_apiserver()
            self._wait(self._apiserver_ready, "kube-apiserver /readyz")
            self._start_controllers()
            self._wait(self._controllers_ready, "the default ServiceAccount and kube-root-ca.crt")
            self.version = self.admin.get("/version")["gitVersion"]
        except BaseException:
            self.stop()
            raise
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.dir),
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.dir / "kube-cache"),
            "HELM_CACHE_HOME": str(self.dir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.dir / "helm" / "config"),
            "HELM_DATA_HOME": str(self.dir / "helm" / "data"),
        }
        self.kubectl = Cli(self.bin_dir / "kubectl", env)
        self.helm = Cli(self.bin_dir / "helm", env)

    def stop(self) -> None:
        """Stop every process (scheduler and controllers first), delete the network and data."""
        for name in reversed(list(self.processes)):
            stop(self.processes.pop(name))
        if self.network:
            self.network.close()
            self.network = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @contextlib.contextmanager
    def outage(self, *components: str) -> Iterator[None]:
        """Stop `components` ("etcd", "kube-apiserver") for the block; start them again after it.

        They come back on the same addresses, certificates and data, as after a crash or an
        upgrade; the block's end waits until the apiserver is ready again.
        """
        starters = {"etcd": self._start_etcd, "kube-apiserver": self._start_apiserver}
        unknown = set(components) - set(starters)
        assert not unknown, f"cannot stop {unknown}: only {list(starters)}"
        chosen = [name for name in starters if name in components]
        for name in reversed(chosen):
            stop(self.processes.pop(name))
        try:
            yield
        finally:
            for name in chosen:
                starters[name]()
            self._wait(self._apiserver_ready, "kube-apiserver /readyz after the outage")

    # -- identities --------------------------------------------------------------------------
    def credentials(self, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A client certificate (cert, key) for user in groups, signed by the cluster CA."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", user)
        return self.ca.issue(f"user-{name}", user, groups)

    def client(self, user: str, groups: tuple[str, ...] = ()) -> Kube:
        """A Kube client authenticated by client certificate as user in groups."""
        return Kube(self.server, self.ca.cert, cert=self.credentials(user, groups))

    def token_client(self, token: str) -> Kube:
        """A Kube client authenticated by a bearer token (e.g. a ServiceAccount token)."""
        return Kube(self.server, self.ca.cert, token=token)

    def service_account_token(self, namespace: str, name: str, seconds: int = 600) -> str:
        """A token of the ServiceAccount namespace/name from the TokenRequest API."""
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest"}
        request["spec"] = {"expirationSeconds": seconds}
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        return self.admin.create(path, request)["status"]["token"]

    def write_kubeconfig(self, name: str, cert: tuple[Path, Path]) -> Path:
        """Write a kubeconfig for a client certificate and return its path."""
        path = self.dir / f"{name}.kubeconfig"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "trainjob",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca.cert)},
                }
            ],
            "users": [
                {"name": name, "user": {"client-certificate": str(cert[0]), "client-key": str(cert[1])}}
            ],
            "contexts": [
                {"name": name, "context": {"cluster": "trainjob", "user": name, "namespace": "default"}}
            ],
            "current-context": name,
        }
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML: kubectl and clients read it
        return path

    # -- internals ---------------------------------------------------------------------------
    def _make_pki(self) -> None:
        assert self.network is not None
        pki = self.dir / "pki"
        self.ca = CertificateAuthority(pki)
        self._serving = self.ca.issue(
            "apiserver",
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=(self.host, "127.0.0.1", str(next(self.network.service_range.hosts()))),
        )
        self._admin_cert = self.ca.issue("admin", "trainjob-admin", ("system:masters",))
        # what the apiserver presents to kubelets (logs), named and grouped as kubeadm does
        self._kubelet_client = self.ca.issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)
        )
        self._sa_key, self._sa_pub = signing_key_pair(pki)

    def _run(self, name: str, argv: list[str]) -> None:
        self.processes[name] = spawn(argv, log=self.dir / f"{name}.log")

    def _start_etcd(self) -> None:
        client, peer = self._etcd_ports
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._run(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=default",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    def _start_apiserver(self) -> None:
        assert self.network is not None
        self._run(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={self.host}",
                f"--advertise-address={self.host}",
                f"--secure-port={self.port}",
                f"--cert-dir={self.dir / 'pki'}",
                f"--tls-cert-file={self._serving[0]}",
                f"--tls-private-key-file={self._serving[1]}",
                f"--client-ca-file={self.ca.cert}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self._sa_pub}",
                f"--service-account-signing-key-file={self._sa_key}",
                f"--service-cluster-ip-range={self.network.service_range}",
                f"--kubelet-client-certificate={self._kubelet_client[0]}",
                f"--kubelet-client-key={self._kubelet_client[1]}",
                f"--kubelet-certificate-authority={self.ca.cert}",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--profiling=false",
                *self._gates(),
                *(
                    [f"--runtime-config={RUNTIME_CONFIG}"]
                    if self.feature_gates.get("GenericWorkload")
                    else []
                ),
            ],
        )

    def _start_controllers(self) -> None:
        assert self.network is not None
        kcm = self.write_kubeconfig(
            "kube-controller-manager", self.credentials("system:kube-controller-manager")
        )
        self._run(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm}",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self._sa_key}",
                f"--root-ca-file={self.ca.cert}",
                f"--cluster-signing-cert-file={self.ca.cert}",
                f"--cluster-signing-key-file={self.ca.key}",
                f"--service-cluster-ip-range={self.network.service_range}",
                "--leader-elect=false",
                "--secure-port=0",
                *self._gates(),
                *self.controller_manager_flags,
            ],
        )
        scheduler = self.write_kubeconfig("kube-scheduler", self.credentials("system:kube-scheduler"))
        self._run(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={scheduler}",
                "--leader-elect=false",
                "--secure-port=0",
                *self._gates(),
            ],
        )

    def _gates(self) -> list[str]:
        """The `--feature-gates` flag, or nothing without gates."""
        if not self.feature_gates:
            return []
        gates = ",".join(f"{name}={str(on).lower()}" for name, on in self.feature_gates.items())
        return [f"--feature-gates={gates}"]

    def _apiserver_ready(self) -> bool:
        try:
            self.admin.text("/readyz")
        except (ApiError, OSError):
            return False
        return True

    def _controllers_ready(self) -> bool:
        try:
            self.admin.get("/api/v1/namespaces/default/serviceaccounts/default")
            self.admin.get("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
        except ApiError:
            return False
        return True

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited {process.returncode}:\n{tail(self.dir / f'{name}.log')}"
                    )
            if ready():
                return
            time.sleep(0.2)
        logs = "\n".join(f"--- {n}\n{tail(self.dir / f'{n}.log', 15)}" for n in self.processes)
        raise TimeoutError(f"control plane: no {what} after {self.startup_timeout}s\n{logs}")
