"""A graceful stop asked for from outside, end to end: annotation -> rank 0's watch -> every rank stops."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import assert_succeeded, cluster_example, kubectl_apply, wait_for_status
from trainjob_api.names import STOP_ANNOTATION

pytestmark = pytest.mark.e2e

MAX_EPOCHS = 300


def test_a_stop_request_stops_every_rank_at_the_same_step_with_a_checkpoint(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=MAX_EPOCHS)
    kubectl_apply(control_plane, manifest, tmp_path)

    def training(status: dict) -> bool:
        assert status.get("phase") not in ("Succeeded", "Failed"), status
        return status.get("phase") == "Running" and status.get("progress", {}).get("epoch", 0) >= 2

    wait_for_status(control_plane, namespace, "digits", training, operator=operator)
    control_plane.kubectl("annotate", "tj", "digits", f"{STOP_ANNOTATION}=true", "-n", namespace)

    status = wait_for_status(control_plane, namespace, "digits", operator=operator)
    assert_succeeded(control_plane, namespace, status, test_node)
    assert status["stoppedOnRequest"] is True
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "True" and succeeded["reason"] == "StoppedOnRequest"
    stopped_at = status["progress"]["epoch"]
    assert 2 <= stopped_at < MAX_EPOCHS
    checkpoint = Path(status["checkpoint"]["path"])
    assert checkpoint.parent == tmp_path / "checkpoints" and checkpoint.is_file()

    pods = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    assert len(pods) == 2
    final_steps = set()
    for pod in pods:
        terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert terminated["exitCode"] == 0, terminated
        log = test_node.logs(namespace, pod["metadata"]["name"])
        done = re.search(r"rank \d done: .* step (\d+), .*stopped: stop requested", log)
        assert done, log[-2000:]
        final_steps.add(int(done.group(1)))
    assert len(final_steps) == 1, f"the ranks stopped at different steps: {final_steps}"
