"""The apiserver down for 30 s and etcd restarted, while a job trains and while the operator creates
several others: training goes on, the status and the operator catch up, nothing is lost or doubled."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.admission_gate import AdmissionGate
from tests.e2e.convergence import (
    QUICK,
    assert_all_succeeded_once,
    finished,
)
from tests.e2e.support import (
    ProgressLog,
    kubectl_apply,
    kubectl_apply_all,
    wait_for_status,
    wait_until,
    with_host_directory,
    worker_manifest,
)
from trainjob.checkpointing import CheckpointStore
from trainjob_api.names import STOP_ANNOTATION

pytestmark = pytest.mark.e2e

OUTAGE_S = 30
NEW_JOBS = 5


def test_training_and_creation_ride_out_the_apiserver_down_and_etcd_restarted(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    checkpoints = tmp_path / "checkpoints"
    out = str(tmp_path / "out")
    command = ["python", "tests/workers/tiny_regression.py", "--out", out, "--sleep", "0.05"]
    manifest = worker_manifest(
        "train",
        namespace,
        command,
        numNodes=2,
        maxEpochs=10000,
        env=[{"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}],
        checkpoint={"path": str(checkpoints), "keepLast": 2},
    )
    # The checkpoints and the workers' output outlive the pods on a hostPath volume.
    kubectl_apply(cp, with_host_directory(manifest, tmp_path), tmp_path)
    progress = ProgressLog()

    def training(status: dict[str, Any]) -> bool:
        return status.get("phase") == "Running" and (status.get("progress") or {}).get("epoch", 0) >= 2

    wait_for_status(cp, namespace, "train", training, operator=operator, every=progress, timeout=180)

    # New TrainJobs: the control plane goes down once the operator is creating their children.
    new = [worker_manifest(f"new-{index}", namespace, QUICK) for index in range(NEW_JOBS)]
    epoch_before = latest_epoch(checkpoints)
    with AdmissionGate(cp, namespace, "serviceaccounts", let_through=2) as gate:
        kubectl_apply_all(cp, new, tmp_path / "new.yaml")
        gate.wait_until_holding()
        # The apiserver stops with creations in flight; it refuses connections from the SIGTERM on,
        # and is killed once its grace period ends (it waits on what the gate holds).
        down_since = time.monotonic()
        with cp.outage("kube-apiserver", "etcd"):
            gate.release()
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_since)))
            epoch_in_outage = latest_epoch(checkpoints)
    assert epoch_in_outage > epoch_before + 1, "training did not go on while the control plane was down"

    # The status catches up with what was trained meanwhile; the new TrainJobs converge.
    wait_for_status(
        cp,
        namespace,
        "train",
        lambda status: (status.get("progress") or {}).get("epoch", 0) >= epoch_in_outage,
        operator=operator,
        every=progress,
        timeout=60,
    )
    names = {job["metadata"]["name"] for job in new}
    wait_until(lambda: names <= finished(cp, namespace), "the new TrainJobs to finish", timeout=240)
    cp.kubectl("annotate", "tj", "train", f"{STOP_ANNOTATION}=true", "-n", namespace)
    status = wait_for_status(cp, namespace, "train", operator=operator, every=progress, timeout=120)

    assert (status["phase"], status["stoppedOnRequest"]) == ("Succeeded", True), status
    assert progress.times_it_went_back() == 0, progress.seen
    assert_all_succeeded_once(cp, namespace, NEW_JOBS + 1)


def latest_epoch(directory: Path) -> int:
    """The epoch of the newest checkpoint in `directory`."""
    latest = CheckpointStore(directory, keep_last=1).latest()
    assert latest is not None, "no checkpoint yet"
    return latest.epoch
