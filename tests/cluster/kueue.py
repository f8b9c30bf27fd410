"""Kueue's controller against the test control plane: its CRDs, its webhooks, the process.

Kueue is built and cached by `hack/controlplane.sh` (its directory: `hack/controlplane.sh
kueue-dir`). In a cluster it runs as a Deployment behind a Service; here it runs as a process on
the control plane's host, and its webhook configurations name that address (`clientConfig.url`)
with a serving certificate from the test PKI, so the apiserver calls it as it would in a cluster.
Only the batch/job integration is on (a TrainJob is a Kueue workload through its Job), so only
the webhooks of Jobs and of Kueue's own kinds are registered.
"""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.binaries import SCRIPT
from tests.cluster.controlplane import ControlPlane, free_port
from tests.cluster.processes import spawn, stop

NAMESPACE = "kueue-system"
#: Where Kueue reads its metrics server's certificate when it does not manage certificates itself.
METRICS_CERTS = "/etc/kueue/metrics/certs"
#: The webhooks kept: those of batch/v1 Jobs and of Kueue's own kinds.
WEBHOOK_PATHS = ("-batch-v1-job", "-kueue-x-k8s-io-")


def kueue_dir() -> Path:
    """Kueue's cached directory: bin/kueue, crds/ and webhooks.yaml (built by hack/controlplane.sh)."""
    directory = subprocess.run(
        ["bash", str(SCRIPT), "kueue-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(directory)


class Kueue:
    """Kueue's controller manager for the control plane `cp`; a context manager.

    On entry: the CRDs installed, the process started and ready, its webhooks registered. On
    exit: the webhooks removed first (so no request waits on a stopped webhook), then the process.
    """

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.dir = kueue_dir()
        self.work = cp.dir / "kueue"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.work / "kueue.log"

    def __enter__(self) -> Kueue:
        self.work.mkdir(exist_ok=True)
        self.cp.kubectl("apply", "--server-side", "-f", str(self.dir / "crds"))
        for crd in sorted(self.dir.glob("crds/*.yaml")):
            self.cp.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crd))
        self.cp.kubectl("create", "namespace", NAMESPACE, check=False)
        host = self.cp.host
        webhook_port, health_port = free_port(host), free_port(host)
        certs = self.work / "certs"
        certs.mkdir(exist_ok=True)
        cert, key = self.cp.ca.issue("kueue-webhook", "kueue-webhook", ips=(host,))
        (certs / "tls.crt").write_bytes(Path(cert).read_bytes())
        (certs / "tls.key").write_bytes(Path(key).read_bytes())
        config = self.work / "config.yaml"
        config.write_text(yaml.safe_dump(self._configuration(host, webhook_port, health_port, certs)))
        # Without its internal certificate manager, Kueue reads its metrics server's certificate from
        # a fixed path, where its Deployment mounts a Secret: here a bind mount of the test PKI's
        # certificate, in a mount namespace of Kueue's own.
        # The on-demand visibility API (an aggregated API server of its own) is not used here.
        kueue = (
            f"exec {self.dir / 'bin' / 'kueue'} --config={config} --zap-log-level=2"
            " --feature-gates=VisibilityOnDemand=false"
        )
        mount = f"mkdir -p {METRICS_CERTS} && mount --bind {certs} {METRICS_CERTS} && {kueue}"
        self.process = spawn(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount],
            log=self.log,
            env={"KUBECONFIG": str(self.cp.kubeconfig), "NAMESPACE": NAMESPACE, "PATH": "/usr/bin:/bin"},
        )
        try:
            self._wait_ready(f"http://{host}:{health_port}/readyz")
            self._register_webhooks(f"https://{host}:{webhook_port}")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for kind in ("mutatingwebhookconfiguration", "validatingwebhookconfiguration"):
            self.cp.kubectl("delete", kind, f"kueue-{kind}", "--ignore-not-found", check=False)
        if self.process is not None:
            stop(self.process)
            self.process = None

    @staticmethod
    def _configuration(host: str, webhook_port: int, health_port: int, certs: Path) -> dict[str, Any]:
        return {
            "apiVersion": "config.kueue.x-k8s.io/v1beta2",
            "kind": "Configuration",
            "namespace": NAMESPACE,
            "health": {"healthProbeBindAddress": f"{host}:{health_port}"},
            "metrics": {"bindAddress": "0"},
            "webhook": {"host": host, "port": webhook_port, "certDir": str(certs)},
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "integrations": {"frameworks": ["batch/job"]},
        }

    def _wait_ready(self, url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()[-4000:]
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"Kueue was not ready within {timeout:.0f} s:\n{self.log.read_text()[-4000:]}")

    def _register_webhooks(self, base_url: str) -> None:
        ca_bundle = base64.b64encode(Path(self.cp.ca.cert).read_bytes()).decode()
        configurations = []
        for configuration in yaml.safe_load_all((self.dir / "webhooks.yaml").read_text()):
            kind = configuration["kind"].lower()
            configuration["metadata"] = {"name": f"kueue-{kind}"}
            kept = []
            for webhook in configuration["webhooks"]:
                path = webhook["clientConfig"]["service"]["path"]
                if any(part in path for part in WEBHOOK_PATHS):
                    webhook["clientConfig"] = {"url": f"{base_url}{path}", "caBundle": ca_bundle}
                    kept.append(webhook)
            configuration["webhooks"] = kept
            configurations.append(configuration)
        path = self.work / "webhooks.yaml"
        path.write_text(yaml.safe_dump_all(configurations))
        self.cp.kubectl("apply", "-f", str(path))
