"""An apiserver outage in the middle of a run: training goes on, the status catches up, nothing lost."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import cluster_example, kubectl_apply, wait_for_status
from trainjob.checkpointing import CheckpointFile, CheckpointStore
from trainjob_api.names import STOP_ANNOTATION

pytestmark = pytest.mark.e2e

OUTAGE_S = 20


def test_training_rides_out_an_apiserver_outage_and_the_status_catches_up(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    checkpoints = tmp_path / "checkpoints"
    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=1000)
    kubectl_apply(control_plane, manifest, tmp_path)

    seen: list[tuple[int, int]] = []

    def record(status: dict[str, Any]) -> None:
        progress = status.get("progress") or {}
        if "step" in progress:
            seen.append((progress["epoch"], progress["step"]))

    def training_for_a_while(status: dict[str, Any]) -> bool:
        assert status.get("phase") not in ("Succeeded", "Failed"), status
        return status.get("phase") == "Running" and status.get("progress", {}).get("epoch", 0) >= 2

    wait_for_status(control_plane, namespace, "digits", training_for_a_while, operator=operator, every=record)
    before = seen[-1]
    with control_plane.outage("kube-apiserver"):
        time.sleep(OUTAGE_S)
        epoch_in_outage = _latest_checkpoint(checkpoints).epoch
    assert epoch_in_outage > before[0] + 1, "training did not go on while the apiserver was down"

    # Within seconds of recovery, the status shows at least what was trained during the outage.
    wait_for_status(
        control_plane,
        namespace,
        "digits",
        lambda status: status.get("progress", {}).get("epoch", 0) >= epoch_in_outage,
        timeout=30,
        operator=operator,
        every=record,
    )
    # The stop-request watch reconnected too: a stop ends the run, with the final status right.
    control_plane.kubectl("annotate", "tj", "digits", f"{STOP_ANNOTATION}=true", "-n", namespace)
    status = wait_for_status(control_plane, namespace, "digits", operator=operator, every=record)

    assert status["phase"] == "Succeeded" and status["stoppedOnRequest"] is True, status
    final = _latest_checkpoint(checkpoints)
    assert (status["checkpoint"]["epoch"], status["checkpoint"]["path"]) == (final.epoch, final.path)
    assert status["progress"]["epoch"] >= final.epoch
    assert seen == sorted(seen), "the status went backwards"


def _latest_checkpoint(directory: Path) -> CheckpointFile:
    latest = CheckpointStore(directory, keep_last=1).latest()
    assert latest is not None, "no checkpoint yet"
    return latest
