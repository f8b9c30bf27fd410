"""Early stopping on the real control plane: every worker stops at the same epoch, and status says why."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    condition_statuses,
    kubectl_apply,
    terminated,
    wait_for_status,
    worker_pods,
)

pytestmark = pytest.mark.e2e

#: A cap far above where the example stops (about 10 epochs), so a stop that never fires fails fast.
MAX_EPOCHS = 40


def test_early_stopping_stops_every_worker_at_the_same_epoch(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = cluster_example("digits-early-stopping", namespace, tmp_path, maxEpochs=MAX_EPOCHS)
    name = manifest["metadata"]["name"]
    kubectl_apply(control_plane, manifest, tmp_path)

    status = wait_for_status(control_plane, namespace, name, operator=operator)

    assert_succeeded(control_plane, namespace, status)
    assert status["workers"] == {"active": 0, "succeeded": 2, "failed": 0, "total": 2}
    early = status["earlyStopping"]
    assert early["triggered"] is True, f"{json.dumps(status, indent=1)}\n{test_node.log_tails(namespace)}"
    assert early["reason"] == "EarlyStopping"
    assert "did not improve by more than 0.005 for 2 epochs" in early["message"]
    assert early["wait"] == early["patience"] == 2
    assert early["epoch"] == status["progress"]["epoch"] < MAX_EPOCHS
    assert early["best"] == status["metrics"]["best"]
    assert status["metrics"]["bestEpoch"] == early["epoch"] - 2
    conditions = {condition["type"]: condition for condition in status["conditions"]}
    assert condition_statuses(status)["EarlyStopped"] == "True"
    assert conditions["EarlyStopped"]["reason"] == "EarlyStopping"
    assert conditions["EarlyStopped"]["message"] == early["message"]
    assert conditions["Succeeded"]["reason"] == "EarlyStopped"

    pods = worker_pods(control_plane, namespace, name)
    assert [pod["status"]["phase"] for pod in pods] == ["Succeeded", "Succeeded"]
    assert [terminated(pod)["exitCode"] for pod in pods] == [0, 0]
    ends = set()
    for rank, pod in enumerate(pods):
        log = test_node.logs(namespace, pod["metadata"]["name"])
        done = re.findall(
            r"^rank (\d+) done: (\d+) epochs, step (\d+), .*, stopped: (.*)$", log, re.MULTILINE
        )
        assert len(done) == 1, log[-2000:]
        assert done[0][:2] == (str(rank), str(early["epoch"]))
        assert done[0][3] == early["message"]
        ends.add(done[0][1:])
    assert len(ends) == 1, f"the ranks stopped at different epochs or steps: {ends}"
