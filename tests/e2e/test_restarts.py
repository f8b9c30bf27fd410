"""A worker killed mid-training, on the real control plane: the whole group restarts and resumes, or fails."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.storage import CLAIM_MOUNT, checkpoint_claim, with_claim
from tests.e2e.support import (
    STATUS_EVERY_HALF_SECOND,
    assert_succeeded,
    cluster_example,
    condition_statuses,
    example_manifest,
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
EPOCH_LINE = re.compile(r"^epoch (\d+)/\d+ ", re.MULTILINE)


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


@dataclass(frozen=True)
class Restart:
    """What a group restart after a kill showed: kubectl's output at apply, the status, the logs."""

    applied: str
    checkpointed: int
    status: dict[str, Any]
    epochs_after_restart: list[int]
    first_log: str
    second_log: str


def restart_after_a_kill(
    cp: ControlPlane,
    node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    manifest: dict[str, Any],
    tmp_path: Path,
) -> Restart:
    """Apply the digits job, SIGKILL rank 0 once a checkpoint exists, and follow the restart to the end."""
    applied = kubectl_apply(cp, manifest, tmp_path)
    name = manifest["metadata"]["name"]
    first_pods = [
        pod["metadata"]["name"]
        for pod in wait_until(lambda: worker_pods(cp, namespace, name, attempt=0), "the first attempt's pods")
    ]
    before, killed = kill_worker_once_checkpointed(cp, node, namespace, name, operator, index=0)
    epochs_after_restart: list[int] = []

    def record_epoch(status: dict[str, Any]) -> None:
        if status.get("restarts") == 1 and status.get("phase") == "Running":
            epochs_after_restart.append(status["progress"]["epoch"])

    status = wait_for_status(cp, namespace, name, operator=operator, every=record_epoch)
    assert_succeeded(cp, namespace, status, node)
    assert status["restarts"] == 1, status["failure"]
    assert (status["failure"]["pod"], status["failure"]["exitCode"]) == (killed, SIGKILL_EXIT_CODE)
    pods = worker_pods(cp, namespace, name)
    assert [pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in pods] == ["1", "1"]
    assert [terminated(pod)["exitCode"] for pod in pods] == [0, 0]
    return Restart(
        applied=applied.stdout + applied.stderr,
        checkpointed=before["checkpoint"]["epoch"],
        status=status,
        epochs_after_restart=epochs_after_restart,
        first_log=node.logs(namespace, first_pods[0]),
        second_log=node.logs(namespace, pods[0]["metadata"]["name"]),
    )


def assert_resumed(restart: Restart, directory: str) -> None:
    """The second attempt loaded the newest complete checkpoint in `directory` and trained on from it.

    It may be older than the first attempt's last finished epoch: a kill during a save leaves that
    epoch's checkpoint unwritten (only a temporary file, which the second attempt removes). It
    may be the last epoch's: a kill after that save leaves the second attempt nothing to train,
    and its status then names that checkpoint as the latest.
    """
    checkpoint = restart.status["checkpoint"]
    resumed, total = checkpoint["resumedEpoch"], restart.status["progress"]["totalEpochs"]
    loaded = f"{directory}/ckpt-e{resumed:06d}-b000000000.pt"
    first_run, second_run = completed_epochs(restart.first_log), completed_epochs(restart.second_log)
    assert checkpoint["resumedFrom"] == loaded, checkpoint
    assert checkpoint["resume"] == f"resumed from {loaded} (epoch {resumed}, batch 0)", checkpoint
    assert f"checkpoint: resumed from {loaded}" in restart.second_log
    assert first_run[0] == 1 and restart.checkpointed <= resumed <= first_run[-1], (checkpoint, first_run)
    assert second_run == list(range(resumed + 1, total + 1)), (resumed, first_run, second_run)
    # Until the second attempt reports, the status still shows the first attempt's last landed
    # report, which may be older than the checkpoint it resumed from (the kill can land between
    # a save and the report of it), but never older than the checkpoint the status showed at the kill.
    after = restart.epochs_after_restart
    assert all(epoch >= restart.checkpointed for epoch in after), after
    assert (checkpoint["epoch"], restart.status["progress"]["epoch"]) == (total, total)


def test_a_killed_worker_restarts_the_group_from_its_checkpoint_on_a_claim(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    volume = tmp_path / "volume"
    with checkpoint_claim(cp, namespace, volume) as claim:
        spec = {"maxEpochs": MAX_EPOCHS, "runPolicy": {"backoffLimit": 2}, "env": [STATUS_EVERY_HALF_SECOND]}
        manifest = with_claim(example_manifest("digits-ddp", namespace, **spec), claim)
        restart = restart_after_a_kill(cp, test_node, namespace, operator, manifest, tmp_path)

    assert_resumed(restart, f"{CLAIM_MOUNT}/digits")
    assert condition_statuses(restart.status)["Restarting"] == "False"
    assert restart.status["failure"]["worker"] == 0
    # The checkpoints are on the volume, complete, with no temporary file of the killed save left.
    files = sorted(path.name for path in (volume / "digits").iterdir())
    assert files == [f"ckpt-e{epoch:06d}-b000000000.pt" for epoch in (MAX_EPOCHS - 1, MAX_EPOCHS)], files


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
