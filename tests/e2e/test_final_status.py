"""The final status lands even when rank 0's own status writes cannot: through its termination message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    kubectl_apply,
    terminated,
    wait_for_status,
    wait_until,
    worker_pods,
)
from trainjob_api.final_status import decode_final_status
from trainjob_api.names import HISTORY_KEY, history_name, job_name, reporter_name

pytestmark = pytest.mark.e2e

MAX_EPOCHS = 40


def test_an_early_stop_the_reporter_could_not_write_reaches_the_status_through_the_termination_message(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = cluster_example("digits-early-stopping", namespace, tmp_path, maxEpochs=MAX_EPOCHS)
    name = manifest["metadata"]["name"]
    kubectl_apply(control_plane, manifest, tmp_path)

    # Take the reporter's rights away before a worker can start: every status write is refused.
    def job_exists() -> bool:
        try:
            control_plane.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name(name)}")
        except ApiError:
            return False
        return True

    wait_until(job_exists, "the worker Job", every=0.1)
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    control_plane.admin.delete(f"{rbac}/rolebindings/{reporter_name(name)}")

    status = wait_for_status(control_plane, namespace, name, operator=operator)

    assert_succeeded(control_plane, namespace, status, test_node)
    pods = worker_pods(control_plane, namespace, name)
    rank0 = test_node.logs(namespace, pods[0]["metadata"]["name"])
    assert "status write refused" in rank0, rank0[-3000:]
    assert "the final status left beside it takes its place" in rank0, rank0[-3000:]
    history = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/configmaps/{history_name(name)}")
    assert not (history.get("data") or {}).get(HISTORY_KEY), "a reporter write landed: this proves nothing"

    left = decode_final_status(terminated(pods[0])["message"])
    early = status["earlyStopping"]
    assert early == left["earlyStopping"]
    assert early["triggered"] is True and early["reason"] == "EarlyStopping"
    assert early["epoch"] == status["progress"]["epoch"] < MAX_EPOCHS
    assert status["progress"] == left["progress"]
    assert status["metrics"]["bestEpoch"] == early["epoch"] - 2
    conditions = {condition["type"]: condition for condition in status["conditions"]}
    assert conditions["Succeeded"]["reason"] == "EarlyStopped"
    assert conditions["EarlyStopped"]["message"] == early["message"]
    assert "message" not in terminated(pods[1]), "only rank 0 reports"
