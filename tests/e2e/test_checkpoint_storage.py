"""Where checkpoints live decides what a group restart resumes from, on the real control plane with
the honest test node: object storage (a real S3-compatible server) resumes, the container's own
filesystem starts over (and `kubectl apply` warned about it). The claim case is in
test_restarts.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.cluster.objectstore import S3Server
from tests.e2e.storage import checkpoint_policy, s3_credentials_secret, with_object_storage
from tests.e2e.support import STATUS_EVERY_HALF_SECOND, example_manifest
from tests.e2e.test_restarts import (
    assert_resumed,
    completed_epochs,
    restart_after_a_kill,
)
from trainjob.checkpointing import CheckpointStore

#: Two runs of up to MAX_EPOCHS epochs each (the second from the start when nothing was kept).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(480)]

MAX_EPOCHS = 4


def digits(namespace: str) -> dict:
    """The digits example, made to restart once and resume, reporting every half second."""
    spec = {"maxEpochs": MAX_EPOCHS, "runPolicy": {"backoffLimit": 1}, "env": [STATUS_EVERY_HALF_SECOND]}
    return example_manifest("digits-ddp", namespace, **spec)


def test_a_group_restart_resumes_from_checkpoints_in_object_storage(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    s3_bucket: str,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    cp = control_plane
    secret = s3_credentials_secret(cp, namespace, s3_server)
    url = f"{s3_bucket}/digits"
    manifest = with_object_storage(digits(namespace), url, secret)

    with checkpoint_policy(cp, digits(namespace), tmp_path):
        restart = restart_after_a_kill(cp, test_node, namespace, operator, manifest, tmp_path)

    assert "Warning:" not in restart.applied, restart.applied
    assert_resumed(restart, url)
    # The bucket holds the newest complete checkpoints (keepLast 2), read here with the same library.
    store = CheckpointStore(url, keep_last=2)
    assert [checkpoint.epoch for checkpoint in store.files()] == [MAX_EPOCHS - 1, MAX_EPOCHS]
    assert store.load_latest().payload["epoch"] == MAX_EPOCHS


def test_checkpoints_in_the_container_are_lost_with_it_the_restart_says_so_and_apply_warned(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    # The example as shipped: checkpoints in `checkpoints`, relative to the container's workdir.
    manifest = digits(namespace)
    assert manifest["spec"]["checkpoint"]["path"] == "checkpoints"

    with checkpoint_policy(cp, manifest, tmp_path):
        restart = restart_after_a_kill(cp, test_node, namespace, operator, manifest, tmp_path)

    policy = "Warning: Validation failed for ValidatingAdmissionPolicy 'tj-trainjob-operator-checkpoint-path'"
    assert policy in restart.applied, restart.applied
    assert "spec.checkpoint.path checkpoints is not on a volume that outlives the pods" in restart.applied
    assert "mount a PersistentVolumeClaim" in restart.applied and "s3://bucket/prefix" in restart.applied
    checkpoint = restart.status["checkpoint"]
    assert (checkpoint["resumedFrom"], checkpoint["resumedEpoch"]) == ("", 0), checkpoint
    assert checkpoint["resume"] == "no checkpoint in checkpoints: training starts from the beginning"
    assert "checkpoint: no checkpoint in checkpoints" in restart.second_log
    assert restart.checkpointed >= 1  # the first attempt had saved a checkpoint, which the restart lost
    assert completed_epochs(restart.second_log) == list(range(1, MAX_EPOCHS + 1))
    # Nothing the containers wrote outside their volumes is left on the node.
    assert not (Path.cwd() / "checkpoints").exists()
