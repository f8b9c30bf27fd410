"""End to end on the real control plane: kubectl apply -> operator -> pods -> DDP -> status."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import cluster_example, condition_statuses, kubectl_apply, wait_for_status

pytestmark = pytest.mark.e2e


def test_digits_trains_on_the_cluster_and_reports_progress(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    kubectl_apply(control_plane, cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=8), tmp_path)

    seen_steps: set[int] = set()

    def record_step(status: dict[str, Any]) -> None:
        step = (status.get("progress") or {}).get("step")
        if step is not None and status.get("phase") == "Running":
            seen_steps.add(step)

    status = wait_for_status(control_plane, namespace, "digits", operator=operator, every=record_step)
    assert status.get("phase") == "Succeeded", status
    assert len(seen_steps) >= 3, f"progress was seen only at steps {sorted(seen_steps)}"
    assert status["progress"]["epoch"] == status["progress"]["totalEpochs"] == 8
    assert status["metrics"]["values"]["val_accuracy"] > 0.9
    assert condition_statuses(status)["Succeeded"] == "True"

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
