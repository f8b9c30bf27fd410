"""End to end on the real control plane: kubectl apply -> operator -> pods -> DDP -> status."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import ControlPlane, TestNode

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[2]


@pytest.fixture
def operator(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The CRD installed with kubectl, and the operator running as `python -m trainjob_operator`."""
    control_plane.kubectl("apply", "-f", str(REPO / "crds" / "trainjob.dev_trainjobs.yaml"))
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/trainjobs.trainjob.dev", "--timeout=60s"
    )
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainjob_operator",
            "--namespace",
            namespace,
            "--liveness",
            "",
            "--metrics-port",
            "0",
            "--resync-seconds",
            "5",
        ],
        env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def get_trainjob(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return cp.admin.get(f"/apis/trainjob.dev/v1alpha1/namespaces/{namespace}/trainjobs/{name}")


def test_digits_trains_on_the_cluster_and_reports_progress(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = yaml.safe_load((REPO / "examples" / "digits-ddp.yaml").read_text())
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"]["maxEpochs"] = 8
    manifest["spec"]["checkpoint"]["path"] = str(tmp_path / "checkpoints")
    manifest["spec"]["env"] = [{"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}]
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(manifest))
    control_plane.kubectl("apply", "-f", str(path))

    seen_steps: set[int] = set()
    deadline = time.monotonic() + 300
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = get_trainjob(control_plane, namespace, "digits").get("status") or {}
        step = (status.get("progress") or {}).get("step")
        if step is not None and status.get("phase") == "Running":
            seen_steps.add(step)
        if status.get("phase") in ("Succeeded", "Failed"):
            break
        assert operator.poll() is None, "the operator exited"
        time.sleep(0.2)
    assert status.get("phase") == "Succeeded", status
    assert len(seen_steps) >= 3, f"progress was seen only at steps {sorted(seen_steps)}"
    assert status["progress"]["epoch"] == status["progress"]["totalEpochs"] == 8
    assert status["metrics"]["values"]["val_accuracy"] > 0.9
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions["Succeeded"] == "True"

    pods = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    envs = [{e["name"]: e for e in pod["spec"]["containers"][0]["env"]} for pod in pods]
    assert len(pods) == 2
    for env in envs:
        assert env["WORLD_SIZE"]["value"] == "2"
        assert env["MASTER_ADDR"]["value"].startswith("digits-0.")

    table = control_plane.kubectl("get", "tj", "digits", "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    for column in ("PHASE", "EPOCH", "LOSS"):
        assert column in header
    assert "Succeeded" in row and " 8 " in f" {row} "
