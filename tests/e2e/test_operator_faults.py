"""The operator killed (SIGKILL) at its worst moments, and two replicas: nothing is lost or done twice."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.admission_gate import AdmissionGate
from tests.e2e.convergence import (
    CHILDREN,
    QUICK,
    all_finished,
    assert_all_succeeded_once,
    assert_children_exist_once,
    children_count,
    event_counts,
    trainjob_events,
    trainjobs,
)
from tests.e2e.operator_process import crash_operator, install_peering, peers, start_operator, stop_operator
from tests.e2e.support import (
    assert_succeeded,
    get_trainjob,
    kubectl_apply,
    kubectl_apply_all,
    wait_for_status,
    wait_until,
    worker_manifest,
    worker_pods,
)

pytestmark = pytest.mark.e2e

JOBS = 20
PEERING = "trainjob-faults"
#: Where kopf records a failed reconcile to retry it (its progress annotation for the handler).
RETRY_RECORD = "trainjob.dev/reconcile"


#: Keeps an operator process to stop after the test, and returns it.
Tracked = Callable[[subprocess.Popen[bytes]], subprocess.Popen[bytes]]


@pytest.fixture
def operators() -> Iterator[Tracked]:
    """Track the operators a test starts; whatever still runs is stopped after it."""
    started: list[subprocess.Popen[bytes]] = []

    def track(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        started.append(process)
        return process

    yield track
    for process in started:
        stop_operator(process)


def kill_when(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, timeout: float = 120
) -> None:
    """SIGKILL the operator as soon as `ready()` holds (polled every 50 ms)."""
    wait_until(ready, what, timeout=timeout, every=0.05)
    crash_operator(process)


def test_operator_killed_twice_while_creating_twenty_trainjobs_converges(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    crd: None,
    tmp_path: Path,
    operators: Tracked,
) -> None:
    cp = control_plane
    log = tmp_path / "operator.log"
    manifests = [worker_manifest(f"job-{index:02d}", namespace, QUICK) for index in range(JOBS)]
    complete = JOBS * len(CHILDREN)
    # Crash once 5 ServiceAccounts were created and the next one is in flight; then again once
    # 3 more were: each time some TrainJobs have all their children, some a few, some none.
    with AdmissionGate(cp, namespace, "serviceaccounts", let_through=5) as gate:
        operator = operators(start_operator(cp, namespace, log))
        kubectl_apply_all(cp, manifests, tmp_path / "jobs.yaml")
        gate.wait_until_holding()
        crash_operator(operator)
    first_crash = children_count(cp, namespace)
    with AdmissionGate(cp, namespace, "serviceaccounts", let_through=3) as gate:
        operator = operators(start_operator(cp, namespace, log))
        gate.wait_until_holding()
        crash_operator(operator)
    second_crash = children_count(cp, namespace)
    assert 0 < first_crash < second_crash < complete, "both crashes must leave work undone"

    operators(start_operator(cp, namespace, log))
    wait_until(lambda: all_finished(cp, namespace, JOBS), "every TrainJob to finish", timeout=240)

    assert_all_succeeded_once(cp, namespace, JOBS)


def test_operator_killed_mid_group_restart_completes_it_and_counts_it_once(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    crd: None,
    tmp_path: Path,
    operators: Tracked,
) -> None:
    cp = control_plane
    log = tmp_path / "operator.log"
    done = tmp_path / "done"
    # The workers wait until stopped (taking 3 s to exit, as a trainer that checkpoints), so the
    # restart's Job deletion lasts long enough to crash the operator in the middle of it; the
    # next attempt's workers find `done` and succeed.
    sleeper = ["python", "tests/workers/sleeper.py", "--done-if", str(done), "--term-delay", "3"]
    manifest = worker_manifest("restart", namespace, sleeper, numNodes=2, runPolicy={"backoffLimit": 2})
    operator = operators(start_operator(cp, namespace, log))
    kubectl_apply(cp, manifest, tmp_path)
    wait_for_status(cp, namespace, "restart", lambda status: status.get("phase") == "Running", timeout=120)

    done.touch()
    test_node.kill(namespace, worker_pods(cp, namespace, "restart", attempt=0)[1]["metadata"]["name"])
    jobs = f"/apis/batch/v1/namespaces/{namespace}/jobs"

    def restart_half_done() -> bool:
        """The restart is counted and the old Job's deletion under way: the new one is not created yet."""
        job = cp.admin.get(jobs)["items"]
        status = trainjobs(cp, namespace)[0].get("status") or {}
        deleting = bool(job) and "deletionTimestamp" in job[0]["metadata"]
        return deleting and (status.get("phase"), status.get("restarts")) == ("Restarting", 1)

    kill_when(operator, restart_half_done, "the group restart to be under way")
    operators(start_operator(cp, namespace, log))
    status = wait_for_status(cp, namespace, "restart", timeout=180)

    assert_succeeded(cp, namespace, status, test_node)
    assert status["restarts"] == 1
    assert (status["failure"]["worker"], status["failure"]["exitCode"]) == (1, 137)
    job = cp.admin.get(jobs)["items"]
    assert [item["metadata"]["labels"]["trainjob.dev/attempt"] for item in job] == ["1"]
    attempts = [
        pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in worker_pods(cp, namespace, "restart")
    ]
    assert attempts == ["1", "1"], "the first attempt's pods are gone, the second's ran once"
    assert_children_exist_once(cp, namespace)
    events = trainjob_events(cp, namespace)
    # The restart's Event was posted before the crash, or lost with it; never posted again.
    assert {event["reason"] for event in events if event["type"] == "Warning"} <= {"WorkerFailed"}
    counts = event_counts(events)
    assert counts[("restart", "WorkerFailed")] <= 1, counts
    assert counts[("restart", "Completed")] == 1, counts
    assert counts[("restart", "Restarted")] == 1, "the restarted operator announced the new attempt"
    assert counts[("restart", "WorkersRunning")] <= 2, "once per attempt at most"


def operator_log_says(log: Path, text: str) -> bool:
    """Whether the operator's log contains `text`."""
    return text in log.read_text(errors="replace")


def test_two_replicas_one_acts_and_the_other_takes_over_when_it_is_killed(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    crd: None,
    tmp_path: Path,
    operators: Tracked,
) -> None:
    cp = control_plane
    install_peering(cp, namespace, PEERING)
    logs = {"replica-a": tmp_path / "replica-a.log", "replica-b": tmp_path / "replica-b.log"}

    def replica(identity: str, priority: int) -> subprocess.Popen[bytes]:
        flags = ("--peering", PEERING, "--peering-lifetime", "10", "--priority", str(priority))
        return operators(start_operator(cp, namespace, logs[identity], *flags, "--identity", identity))

    active = replica("replica-a", 200)
    wait_until(lambda: operator_log_says(logs["replica-a"], "Resuming operations"), "replica-a to act")
    standby = replica("replica-b", 100)
    wait_until(lambda: len(peers(cp, namespace, PEERING)) == 2, "replica-b to join the peering")

    # While both run, only replica-a acts.
    first = [worker_manifest(f"ha-{index}", namespace, QUICK) for index in range(3)]
    kubectl_apply_all(cp, first, tmp_path / "first.yaml")
    wait_until(lambda: all_finished(cp, namespace, len(first)), "replica-a to finish the first TrainJobs")
    instances = {event.get("reportingInstance") for event in trainjob_events(cp, namespace)}
    assert instances == {"replica-a"}, "only the active replica acted"
    assert not operator_log_says(logs["replica-b"], "Resuming operations"), "replica-b stayed paused"

    # replica-a dies in the middle of its work; replica-b takes over and finishes it.
    second = [worker_manifest(f"ha-{index}", namespace, QUICK) for index in range(3, 9)]
    with AdmissionGate(cp, namespace, "serviceaccounts", let_through=2) as gate:
        kubectl_apply_all(cp, second, tmp_path / "second.yaml")
        gate.wait_until_holding()
        crash_operator(active)
    count = len(first) + len(second)
    assert children_count(cp, namespace) < count * len(CHILDREN), "the crash must leave work undone"

    wait_until(lambda: all_finished(cp, namespace, count), "replica-b to finish every TrainJob", timeout=240)

    assert standby.poll() is None
    assert operator_log_says(logs["replica-b"], "Resuming operations")
    instances = {event.get("reportingInstance") for event in trainjob_events(cp, namespace)}
    assert "replica-b" in instances, "replica-b took over"
    assert_all_succeeded_once(cp, namespace, count)


def test_a_reconcile_the_apiserver_refuses_is_retried_and_its_record_purged(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane

    def retry_record() -> str | None:
        return (get_trainjob(cp, namespace, "retried")["metadata"].get("annotations") or {}).get(RETRY_RECORD)

    # Every ServiceAccount create answered 500 (a transient error) until the gate opens.
    with AdmissionGate(cp, namespace, "serviceaccounts", let_through=0, refuse=True) as gate:
        kubectl_apply(cp, worker_manifest("retried", namespace, QUICK), tmp_path)
        gate.wait_until_holding()
        wait_until(retry_record, "kopf to record the failed reconcile for its retry")
        assert '"retries":1' in (retry_record() or "")
    status = wait_for_status(cp, namespace, "retried", operator=operator)

    assert_succeeded(cp, namespace, status)
    assert retry_record() is None, "purged once the reconcile succeeded"
    assert_all_succeeded_once(cp, namespace, 1)
