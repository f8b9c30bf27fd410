"""The operator as a process for e2e tests: started with any flags, stopped, or killed outright."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cluster import ControlPlane
from tests.e2e.support import REPO, wait_established

#: Flags of every operator a test starts: no endpoints (ports would clash), a fast resync.
RESYNC_SECONDS = 5
TEST_FLAGS = ("--liveness", "", "--metrics-port", "0", "--resync-seconds", str(RESYNC_SECONDS))
PEERING_CRDS = REPO / "charts" / "trainjob-operator" / "crds" / "kopf.dev_peerings.yaml"


def start_operator(cp: ControlPlane, namespace: str, log: Path, *flags: str) -> subprocess.Popen[bytes]:
    """`python -m trainjob_operator` watching `namespace`, its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "trainjob_operator", "--namespace", namespace, *TEST_FLAGS, *flags],
            env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop_operator(process: subprocess.Popen[bytes]) -> None:
    """Stop the operator as Kubernetes would (SIGTERM, SIGKILL after 20 s); a dead one is fine."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def crash_operator(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the operator: no cleanup, no last word, as a crash or an OOM kill."""
    process.kill()
    process.wait()


def install_peering(cp: ControlPlane, namespace: str, name: str) -> None:
    """kopf's peering CRDs (the chart's copy) and the peering object `name` in `namespace`.

    The replicas of an operator started with `--peering NAME` elect the active one through it.
    """
    cp.kubectl("apply", "-f", str(PEERING_CRDS))
    wait_established(cp, "kopfpeerings.kopf.dev")
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": name}}
    cp.admin.create(f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings", peering)


def peers(cp: ControlPlane, namespace: str, name: str) -> dict[str, dict[str, object]]:
    """The replicas the peering object lists (kopf's identity -> priority, lifetime, last seen)."""
    return cp.admin.get(f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{name}").get("status") or {}
