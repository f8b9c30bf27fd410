"""A worker killed mid-training, on the real control plane: the whole group restarts and resumes, or fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    condition_statuses,
    kubectl_apply,
    terminated,
    wait_for_status,
    wait_until,
    worker_pods,
)

pytestmark = pytest.mark.e2e

MAX_EPOCHS = 6
#: The exit code of a container killed by SIGKILL, as a kubelet reports it (128 + 9).
SIGKILL_EXIT_CODE = 137
EPOCH_LINE = re.compile(rf"^epoch (\d+)/{MAX_EPOCHS} ", re.MULTILINE)


def checkpointed(status: dict[str, Any]) -> bool:
    """Whether a checkpoint exists and training is past its second epoch."""
    return bool(status.get("checkpoint")) and (status.get("progress") or {}).get("epoch", 0) >= 2


def kill_worker_once_checkpointed(
    cp: ControlPlane,
    node: TestNode,
    namespace: str,
    name: str,
    operator: subprocess.Popen[bytes],
    index: int,
) -> tuple[dict[str, Any], str]:
    """SIGKILL worker `index` once a checkpoint exists; the status then, and the killed pod's name."""
    status = wait_for_status(cp, namespace, name, checkpointed, operator=operator)
    assert status["phase"] == "Running", status
    pod = worker_pods(cp, namespace, name, attempt=0)[index]["metadata"]["name"]
    node.kill(namespace, pod)
    return status, pod


def completed_epochs(log: str) -> list[int]:
    """The epochs rank 0 reported finished, in its log."""
    return [int(epoch) for epoch in EPOCH_LINE.findall(log)]


def test_a_killed_worker_restarts_the_group_from_its_checkpoint(
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
    kubectl_apply(cp, manifest, tmp_path)
    first_pods = [
        pod["metadata"]["name"]
        for pod in wait_until(
            lambda: worker_pods(cp, namespace, "digits", attempt=0), "the first attempt's pods"
        )
    ]
    before, killed = kill_worker_once_checkpointed(cp, test_node, namespace, "digits", operator, index=0)
    checkpoint_epoch = before["checkpoint"]["epoch"]

    epochs_after_restart: list[int] = []

    def record_epoch(status: dict[str, Any]) -> None:
        if status.get("restarts") == 1 and status.get("phase") == "Running":
            epochs_after_restart.append(status["progress"]["epoch"])

    status = wait_for_status(cp, namespace, "digits", operator=operator, every=record_epoch)

    assert_succeeded(cp, namespace, status)
    assert status["restarts"] == 1, status["failure"]
    assert status["progress"]["epoch"] == MAX_EPOCHS
    assert condition_statuses(status)["Restarting"] == "False"
    assert status["failure"]["worker"] == 0
    assert status["failure"]["pod"] == killed
    assert status["failure"]["exitCode"] == SIGKILL_EXIT_CODE
    assert epochs_after_restart, "the restarted group never reported progress"
    assert min(epochs_after_restart) >= checkpoint_epoch, epochs_after_restart

    pods = worker_pods(cp, namespace, "digits")
    assert [pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in pods] == ["1", "1"]
    assert [terminated(pod)["exitCode"] for pod in pods] == [0, 0]
    first_run = completed_epochs(test_node.logs(namespace, first_pods[0]))
    second_run = completed_epochs(test_node.logs(namespace, pods[0]["metadata"]["name"]))
    assert first_run[0] == 1 and first_run[-1] >= checkpoint_epoch, first_run
    # The second run resumed where the first one's last checkpoint left it, not from epoch 1.
    assert second_run == list(range(first_run[-1] + 1, MAX_EPOCHS + 1)), (first_run, second_run)
    assert len(second_run) < MAX_EPOCHS


def test_a_killed_worker_fails_the_job_without_restarts_and_status_names_it(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    manifest = cluster_example(
        "digits-ddp", namespace, tmp_path, maxEpochs=MAX_EPOCHS, runPolicy={"backoffLimit": 0}
    )
    kubectl_apply(cp, manifest, tmp_path)
    _, killed = kill_worker_once_checkpointed(cp, test_node, namespace, "digits", operator, index=1)

    status = wait_for_status(cp, namespace, "digits", operator=operator)

    assert status["phase"] == "Failed", status
    assert status["restarts"] == 0
    assert status["workers"]["failed"] >= 1, status["workers"]
    assert status["failure"] == {
        "worker": 1,
        "pod": killed,
        "exitCode": SIGKILL_EXIT_CODE,
        "reason": "Error",
        "message": f"worker 1 (pod {killed}) exited with code {SIGKILL_EXIT_CODE} (Error)",
    }
    failed = next(condition for condition in status["conditions"] if condition["type"] == "Failed")
    assert failed["status"] == "True"
    assert failed["reason"] == "WorkerFailed"
    assert failed["message"] == status["failure"]["message"]
    assert condition_statuses(status)["Stalled"] == "True"
    assert status["progress"]["epoch"] < MAX_EPOCHS
