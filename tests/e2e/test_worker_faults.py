"""Workers that hang, are OOM-killed or lose their node, on the real control plane: each gets its
documented outcome (a group restart, or Failed with the reason), and the status says why."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.convergence import assert_children_exist_once, event_counts, trainjob_events
from tests.e2e.support import (
    STATUS_EVERY_HALF_SECOND,
    ProgressLog,
    assert_succeeded,
    condition_statuses,
    kubectl_apply,
    wait_for_status,
    with_host_directory,
    worker_manifest,
    worker_pods,
)

pytestmark = pytest.mark.e2e

#: The exit code of a container killed by SIGKILL (the OOM killer's signal), as a kubelet reports it.
SIGKILL_EXIT_CODE = 137
#: Far longer than a worker's start (torch's import, the rendezvous: 3-4 s here) plus the status
#: interval. With 30 s, a CI run once failed the second attempt as hung too (why it reported
#: nothing for 30 s is not known; the failure now prints every worker's log).
PROGRESS_DEADLINE_S = 60
MAX_EPOCHS = 3
HANG_STEP = 10  # in the second epoch: 256 samples, batches of 16 on each of 2 ranks


def sleeper(done: Path) -> list[str]:
    """A worker that waits until stopped, or succeeds at once once `done` exists."""
    return ["python", "tests/workers/sleeper.py", "--done-if", str(done)]


def is_running(status: dict[str, Any]) -> bool:
    """Whether every worker runs."""
    return status.get("phase") == "Running"


def warning_messages(cp: ControlPlane, namespace: str, reason: str) -> list[str]:
    """The messages of the Warning Events with `reason` on the namespace's TrainJobs."""
    events = trainjob_events(cp, namespace)
    return [event["message"] for event in events if (event["type"], event["reason"]) == ("Warning", reason)]


def test_a_hung_worker_restarts_the_group_with_progress_deadline_exceeded(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    # Rank 1 of the first attempt hangs in its second epoch (rank 0 then waits in a collective);
    # the second attempt trains to the end.
    command = ["python", "tests/workers/tiny_regression.py", "--out", str(tmp_path / "out"), "--sleep", "0.1"]
    command += ["--hang-rank", "1", "--hang-step", str(HANG_STEP)]
    # The first attempt's marker (rank 1 hung once) must outlive its pods: on a hostPath volume.
    manifest = worker_manifest(
        "hang",
        namespace,
        command,
        numNodes=2,
        maxEpochs=MAX_EPOCHS,
        env=[STATUS_EVERY_HALF_SECOND],
        runPolicy={"backoffLimit": 1, "progressDeadlineSeconds": PROGRESS_DEADLINE_S},
        podTemplate={"terminationGracePeriodSeconds": 1},
    )
    kubectl_apply(cp, with_host_directory(manifest, tmp_path / "out"), tmp_path)
    progress = ProgressLog()

    status = wait_for_status(cp, namespace, "hang", operator=operator, every=progress, timeout=300)

    assert_succeeded(cp, namespace, status, test_node)
    assert status["restarts"] == 1
    assert status["failure"]["reason"] == "ProgressDeadlineExceeded"
    (restart,) = warning_messages(cp, namespace, "ProgressDeadlineExceeded")
    assert restart.startswith("the workers failed: ProgressDeadlineExceeded: no progress reported for ")
    assert restart.endswith("the workers look hung; restarting all workers (1 of 1 restarts)")
    # The first attempt trained up to the hang; the second one, though the first one's last report
    # was older than the deadline when it started, got the whole deadline and trained to the end.
    # Within each attempt the progress only went up.
    seen = progress.seen
    assert progress.times_it_went_back() == 1, seen
    back = next(index for index in range(1, len(seen)) if seen[index] < seen[index - 1])
    steps_per_epoch = 8
    assert seen[back - 1] >= (1, steps_per_epoch), "the first attempt hung after its first epoch"
    assert seen[-1][0] == MAX_EPOCHS, seen
    attempts = [
        pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in worker_pods(cp, namespace, "hang")
    ]
    assert attempts == ["1", "1"]


def test_an_oom_killed_worker_restarts_the_group_and_the_status_names_it(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    done = tmp_path / "done"
    manifest = worker_manifest("oom", namespace, sleeper(done), numNodes=2, runPolicy={"backoffLimit": 1})
    kubectl_apply(cp, manifest, tmp_path)
    wait_for_status(cp, namespace, "oom", is_running, operator=operator, timeout=120)
    victim = worker_pods(cp, namespace, "oom", attempt=0)[1]["metadata"]["name"]
    done.touch()  # the next attempt succeeds at once
    test_node.kill(namespace, victim, reason="OOMKilled")

    status = wait_for_status(cp, namespace, "oom", operator=operator, timeout=120)

    assert_succeeded(cp, namespace, status, test_node)
    assert status["restarts"] == 1
    what = f"worker 1 (pod {victim}) exited with code {SIGKILL_EXIT_CODE} (OOMKilled)"
    assert status["failure"] == {
        "worker": 1,
        "pod": victim,
        "exitCode": SIGKILL_EXIT_CODE,
        "reason": "OOMKilled",
        "message": what,
    }
    assert warning_messages(cp, namespace, "WorkerFailed") == [
        f"{what}; restarting all workers (1 of 1 restarts)"
    ]
    assert condition_statuses(status)["Restarting"] == "False"
    assert [
        pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in worker_pods(cp, namespace, "oom")
    ] == [
        "1",
        "1",
    ]


def test_a_lost_node_restarts_the_group_on_another_node_once_its_pods_are_gone(
    control_plane: ControlPlane,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    done = tmp_path / "done"
    pool = {"trainjob.dev/test-pool": namespace}
    doomed = TestNode(cp, f"doomed-{namespace}", labels=pool)
    rescue = TestNode(cp, f"rescue-{namespace}", labels=pool)
    doomed.start()
    try:
        manifest = worker_manifest(
            "lost",
            namespace,
            sleeper(done),
            numNodes=2,
            runPolicy={"backoffLimit": 1},
            podTemplate={"nodeSelector": pool},
        )
        kubectl_apply(cp, manifest, tmp_path)
        wait_for_status(cp, namespace, "lost", is_running, operator=operator, timeout=120)
        assert {pod["spec"]["nodeName"] for pod in worker_pods(cp, namespace, "lost")} == {doomed.name}
        done.touch()
        rescue.start()
        # The node dies: its processes with it, and its Node object is deleted (as a cloud's node
        # controller does for a vanished machine). Its pods still read Running, until the pod
        # garbage collector fails and deletes them, 40 to 60 s later.
        doomed.stop()

        status = wait_for_status(cp, namespace, "lost", operator=operator, timeout=240)

        assert_succeeded(cp, namespace, status)
        assert status["restarts"] == 1
        pods = worker_pods(cp, namespace, "lost")
        assert [pod["metadata"]["labels"]["trainjob.dev/attempt"] for pod in pods] == ["1", "1"]
        assert {pod["spec"]["nodeName"] for pod in pods} == {rescue.name}
        # The collector fails a pod, then deletes it: the operator reads the failure from the pod
        # while it exists, else the Job only tells that a worker failed and its pod is gone.
        lost = {
            "DeletionByPodGC": "PodGC: node no longer exists",
            "WorkerLost": "its pod was gone before its failure could be read (its node was lost",
        }
        assert status["failure"]["reason"] in lost, status["failure"]
        assert lost[status["failure"]["reason"]] in status["failure"]["message"]
        assert_children_exist_once(cp, namespace)
        assert event_counts(trainjob_events(cp, namespace))[("lost", "WorkerFailed")] == 1
    finally:
        rescue.stop()
        doomed.stop()
