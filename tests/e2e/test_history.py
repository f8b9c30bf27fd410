"""The training history on the real control plane: one continuous history across a group restart,
readable with kubectl after the pods are gone, and gone with its TrainJob."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    kubectl_apply,
    wait_for_status,
    wait_until,
    worker_pods,
)
from tests.e2e.test_cli import trainjob_cli
from tests.e2e.test_restarts import kill_worker_once_checkpointed

pytestmark = pytest.mark.e2e

MAX_EPOCHS = 6
HISTORY_EVERY_HALF_SECOND = {"name": "TRAINJOB_HISTORY_INTERVAL_SECONDS", "value": "0.5"}


def kubectl_history(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The history as a user reads it: `kubectl get configmap NAME-history -o jsonpath=...`."""
    result = cp.kubectl(
        "get", "configmap", f"{name}-history", "-n", namespace, "-o", r"jsonpath={.data.history\.json}"
    )
    return json.loads(result.stdout)


def test_a_group_restart_continues_one_history_that_outlives_the_pods_and_goes_with_the_trainjob(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    manifest = cluster_example(
        "digits-ddp", namespace, tmp_path, maxEpochs=MAX_EPOCHS, runPolicy={"backoffLimit": 2}
    )
    manifest["spec"]["env"].append(HISTORY_EVERY_HALF_SECOND)
    kubectl_apply(cp, manifest, tmp_path)
    wait_until(lambda: worker_pods(cp, namespace, "digits", attempt=0), "the first attempt's pods")
    kill_worker_once_checkpointed(cp, test_node, namespace, "digits", operator, index=1)

    status = wait_for_status(cp, namespace, "digits", operator=operator)

    assert_succeeded(cp, namespace, status)
    assert status["restarts"] == 1
    history = kubectl_history(cp, namespace, "digits")
    attempts = history["attempts"]
    assert [attempt["attempt"] for attempt in attempts] == [0, 1], attempts
    resumed_at = attempts[1]["epoch"]
    assert 2 <= resumed_at <= MAX_EPOCHS, attempts
    # One curve per metric over every epoch: the restarted attempt carried on from the history so far.
    for metric in ("loss", "val_loss", "val_accuracy", "lr"):
        assert [x for x, _ in history["epochs"][metric]["points"]] == list(range(1, MAX_EPOCHS + 1)), metric
    assert "history.json" not in json.dumps(status), "the history stays out of the TrainJob"

    cp.kubectl("delete", "pods", "-n", namespace, "-l", "trainjob.dev/name=digits", "--wait=true")
    assert not worker_pods(cp, namespace, "digits")
    assert kubectl_history(cp, namespace, "digits") == history
    table = trainjob_cli(cp, "history", "digits", "-n", namespace, "-o", "csv").stdout.splitlines()
    header = table[0].split(",")
    assert header[:2] == ["epoch", "attempt"] and {"loss", "val_loss"} <= set(header), header
    assert len(table) == 1 + MAX_EPOCHS, table
    assert [row.split(",")[1] for row in table[1:]] == ["0"] * (resumed_at - 1) + ["1"] * (
        MAX_EPOCHS - resumed_at + 1
    )
    assert "Loss curve:" in trainjob_cli(cp, "status", "digits", "-n", namespace).stdout
    drawing = trainjob_cli(cp, "plot", "digits", "-n", namespace, "-o", str(tmp_path / "digits.png")).stdout
    assert "wrote" in drawing and (tmp_path / "digits.png").read_bytes()[:4] == b"\x89PNG"

    cp.kubectl("delete", "trainjob", "digits", "-n", namespace, "--wait=true")

    def history_gone() -> bool:
        try:
            cp.admin.get(f"/api/v1/namespaces/{namespace}/configmaps/digits-history")
        except ApiError as error:
            return error.status == 404
        return False

    wait_until(history_gone, "the garbage collector deleting the history with its TrainJob", timeout=60)
