"""The run policy on the real control plane: suspend and resume, deadline, TTL, and deletion cascading."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.operator_process import RESYNC_SECONDS, start_operator, stop_operator
from tests.e2e.support import (
    TRAINJOBS,
    assert_succeeded,
    cluster_example,
    condition_statuses,
    get_trainjob,
    kubectl_apply,
    pending_manifest,
    wait_for_status,
    wait_until,
    worker_pods,
)
from tests.gitops import Kstatus
from trainjob_operator.timing import parse_time

pytestmark = pytest.mark.e2e

#: Long enough that the workers are still training when the test acts on them.
ENDLESS_EPOCHS = 10_000
#: kopf's finalizer, kept on TrainJobs by an operator with peering (its resync is a kopf timer).
FINALIZER = "trainjob.dev/finalizer"
#: How far a poll may lag behind what it observes.
POLL_SLACK_SECONDS = 2


def children(cp: ControlPlane, namespace: str, name: str) -> list[str]:
    """The TrainJob's children that still exist, as `kind/name`."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    paths = {
        "Job": f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
        "Service": f"/api/v1/namespaces/{namespace}/services/{name}-workers",
        "ServiceAccount": f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}-reporter",
        "ConfigMap": f"/api/v1/namespaces/{namespace}/configmaps/{name}-history",
        "Role": f"{rbac}/roles/{name}-reporter",
        "RoleBinding": f"{rbac}/rolebindings/{name}-reporter",
    }
    left = [f"Pod/{pod['metadata']['name']}" for pod in worker_pods(cp, namespace, name)]
    for kind, path in paths.items():
        if exists(cp, path):
            left.append(f"{kind}/{path.rsplit('/', 1)[1]}")
    return left


def exists(cp: ControlPlane, path: str) -> bool:
    """Whether the object at `path` exists."""
    try:
        cp.admin.get(path)
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def job(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The worker Job."""
    return cp.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")


def test_a_suspended_trainjob_runs_no_pods_until_resumed(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
    kstatus: Kstatus,
) -> None:
    cp = control_plane
    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=2, runPolicy={"suspend": True})
    kubectl_apply(cp, manifest, tmp_path)

    status = wait_for_status(
        cp, namespace, "digits", lambda s: s.get("phase") == "Suspended", operator=operator
    )
    conditions = condition_statuses(status)
    assert conditions["Suspended"] == "True"
    assert conditions["Reconciling"] == "False" and "Ready" not in conditions
    [verdict] = kstatus(get_trainjob(cp, namespace, "digits"))
    assert verdict.status == "Current", "held on purpose: a Flux wait moves on (README, GitOps)"
    assert "startTime" not in status
    # The Job controller has seen the suspended Job (it says so) and created no pod for it.
    wait_until(
        lambda: condition_statuses(job(cp, namespace, "digits")["status"]).get("Suspended") == "True",
        "the Job controller to report the Job suspended",
    )
    assert worker_pods(cp, namespace, "digits") == []
    # kopf's record of the handled spec is the status's observedGeneration, not an annotation.
    metadata = cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/digits")["metadata"]
    assert status["observedGeneration"] == metadata["generation"] == 1
    assert not [key for key in metadata.get("annotations") or {} if key.startswith("trainjob.dev/")]
    # A standalone operator resyncs from its own loop: no kopf finalizer on an unfinished TrainJob.
    assert FINALIZER not in (metadata.get("finalizers") or [])

    cp.kubectl(
        "patch", "tj", "digits", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"runPolicy": {"suspend": False}}}),
    )  # fmt: skip

    status = wait_for_status(cp, namespace, "digits", operator=operator)
    assert_succeeded(cp, namespace, status)
    assert status["progress"]["epoch"] == 2
    assert status["observedGeneration"] == 2, "the spec change was handled"
    conditions = condition_statuses(status)
    assert conditions["Suspended"] == "False"
    assert conditions["Ready"] == "True"
    assert kstatus(get_trainjob(cp, namespace, "digits"))[0].status == "Current"
    assert status["startTime"]
    assert [pod["status"]["phase"] for pod in worker_pods(cp, namespace, "digits")] == ["Succeeded"] * 2


def test_the_active_deadline_fails_a_job_that_runs_too_long(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    manifest = cluster_example(
        "digits-ddp", namespace, tmp_path, maxEpochs=ENDLESS_EPOCHS, runPolicy={"activeDeadlineSeconds": 20}
    )
    kubectl_apply(cp, manifest, tmp_path)

    status = wait_for_status(cp, namespace, "digits", operator=operator)

    assert status["phase"] == "Failed", status
    failed = next(condition for condition in status["conditions"] if condition["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded"
    assert failed["message"] == "the job was active longer than activeDeadlineSeconds (20s)"
    assert status["failure"]["reason"] == "DeadlineExceeded"
    assert condition_statuses(status)["Stalled"] == "True"
    # The workers are stopped (cleanPodPolicy Running deletes what still runs).
    wait_until(lambda: not worker_pods(cp, namespace, "digits"), "the workers to be stopped")


def test_a_finished_trainjob_is_deleted_after_its_ttl_with_its_children(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    ttl = 5
    manifest = cluster_example(
        "digits-ddp", namespace, tmp_path, maxEpochs=1, runPolicy={"ttlSecondsAfterFinished": ttl}
    )
    kubectl_apply(cp, manifest, tmp_path)

    status = wait_for_status(cp, namespace, "digits", operator=operator)
    assert_succeeded(cp, namespace, status)
    assert children(cp, namespace, "digits")

    path = f"{TRAINJOBS.format(namespace=namespace)}/digits"
    last_seen = time.time()

    def deleted() -> bool:
        nonlocal last_seen
        asked = time.time()
        if exists(cp, path):
            last_seen = asked
            return False
        return True

    wait_until(deleted, "the TrainJob to be deleted after its TTL", timeout=60, every=0.2)
    # It was still there TTL seconds after it finished (give or take a poll under a loaded CPU).
    assert last_seen >= parse_time(status["completionTime"]).timestamp() + ttl - POLL_SLACK_SECONDS
    wait_until(lambda: not children(cp, namespace, "digits"), "the garbage collector to delete the children")


def test_deleting_a_running_trainjob_deletes_its_workers_and_children(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    kubectl_apply(cp, cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=ENDLESS_EPOCHS), tmp_path)
    wait_for_status(cp, namespace, "digits", lambda s: s.get("phase") == "Running", operator=operator)
    assert sorted(kind.split("/")[0] for kind in children(cp, namespace, "digits")) == [
        "ConfigMap", "Job", "Pod", "Pod", "Role", "RoleBinding", "Service", "ServiceAccount",
    ]  # fmt: skip

    cp.kubectl("delete", "tj", "digits", "-n", namespace, "--wait=false")

    wait_until(
        lambda: not exists(cp, f"{TRAINJOBS.format(namespace=namespace)}/digits"), "the TrainJob to go"
    )
    wait_until(lambda: not children(cp, namespace, "digits"), "the garbage collector to delete the children")


def test_deleting_a_watched_namespace_removes_its_trainjobs_at_once(
    control_plane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    cp = control_plane
    namespace = f"gone-{uuid.uuid4().hex[:8]}"
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    log = tmp_path / "operator.log"
    operator = start_operator(cp, namespace, log)
    trainjobs = TRAINJOBS.format(namespace=namespace)
    try:
        for index in range(3):
            cp.admin.create(trainjobs, pending_manifest(namespace, f"job-{index}"))

        def reconciled() -> int:
            items = cp.admin.get(trainjobs)["items"]
            return sum("observedGeneration" in (item.get("status") or {}) for item in items)

        wait_until(lambda: reconciled() == 3, "the operator to reconcile every TrainJob")
        time.sleep(RESYNC_SECONDS + 1)  # their resyncs have run
        held = [item for item in cp.admin.get(trainjobs)["items"] if item["metadata"].get("finalizers")]
        assert held == [], "a standalone operator puts no finalizer on a TrainJob"
        assert "Traceback" not in log.read_text(), "the resyncs (and the Events they post) went through"
        cp.admin.delete(f"/api/v1/namespaces/{namespace}")
        path = f"/api/v1/namespaces/{namespace}"
        wait_until(lambda: not exists(cp, path), "the namespace to be gone", timeout=90)
    finally:
        stop_operator(operator)
