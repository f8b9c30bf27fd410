"""Reading worker failures and stuck workers from pods."""

from trainjob_operator.status.failures import (
    WorkerFailure,
    first_failure,
    unseen_failure,
    waiting_problem,
    worker_index,
)


def pod(name, index=None, phase="Running", deleting=False, **status):
    metadata = {"name": name, "annotations": {"batch.kubernetes.io/job-completion-index": str(index)}}
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": metadata, "status": {"phase": phase, **status}}


def terminated(code, reason="Error", at="2024-05-01T12:00:00Z", name="worker"):
    return [{"name": name, "state": {"terminated": {"exitCode": code, "reason": reason, "finishedAt": at}}}]


def test_worker_index_from_label_or_annotation():
    assert worker_index(pod("a", 3)) == 3
    assert worker_index({"metadata": {"labels": {"batch.kubernetes.io/job-completion-index": "7"}}}) == 7
    assert worker_index({"metadata": {}}) is None


def test_the_earliest_failure_of_a_pod_not_being_deleted_wins():
    pods = [
        pod("a", 0, "Failed", deleting=True, containerStatuses=terminated(143, at="2024-05-01T11:00:00Z")),
        pod("b", 1, "Failed", containerStatuses=terminated(1, at="2024-05-01T12:00:05Z")),
        pod("c", 2, "Failed", containerStatuses=terminated(137, "OOMKilled", at="2024-05-01T12:00:01Z")),
        pod("d", 3, "Succeeded", containerStatuses=terminated(0, "Completed")),
    ]
    failure = first_failure(pods)
    assert (failure.worker, failure.pod, failure.exit_code, failure.reason) == (2, "c", 137, "OOMKilled")
    assert first_failure(pods[3:]) is None


def test_within_the_same_second_a_killed_worker_wins_over_the_peer_that_lost_it():
    pods = [
        pod("a", 0, "Failed", containerStatuses=terminated(1)),
        pod("b", 1, "Failed", containerStatuses=terminated(137)),
    ]
    assert (first_failure(pods).worker, first_failure(pods).exit_code) == (1, 137)
    pods[0]["status"]["containerStatuses"] = terminated(1, at="2024-05-01T11:59:59Z")
    assert first_failure(pods).worker == 0


def test_the_worker_container_is_the_one_that_counts():
    statuses = terminated(1, name="sidecar") + terminated(3, name="worker")
    assert first_failure([pod("a", 0, "Failed", containerStatuses=statuses)]).exit_code == 3


def test_pod_level_failures():
    evicted = pod("a", 1, "Failed", reason="Evicted", message="The node was low on resource: memory.")
    assert first_failure([evicted]).describe() == (
        "worker 1 (pod a) failed: Evicted: The node was low on resource: memory."
    )
    preempted = pod(
        "b",
        0,
        "Failed",
        conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}],
    )
    assert first_failure([preempted]).reason == "PreemptionByScheduler"
    # The pod garbage collector fails the pods of a node that no longer exists, then deletes them.
    orphaned = pod(
        "c",
        1,
        "Failed",
        conditions=[
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByPodGC",
                "message": "PodGC: node no longer exists",
            }
        ],
        containerStatuses=[{"name": "worker", "state": {"running": {}}}],
    )
    assert first_failure([orphaned]).describe() == (
        "worker 1 (pod c) failed: DeletionByPodGC: PodGC: node no longer exists"
    )


def test_a_failure_no_pod_shows_comes_from_the_job():
    lost = unseen_failure("BackoffLimitExceeded", "Job has reached the specified backoff limit")
    assert lost.reason == "WorkerLost"
    assert lost.describe() == (
        "the workers failed: WorkerLost: a worker failed and its pod was gone before its failure could "
        "be read (its node was lost, or it was evicted or deleted)"
    )
    assert unseen_failure("PodFailurePolicy", "container failed") == WorkerFailure(
        "PodFailurePolicy", "container failed"
    )
    assert unseen_failure("", "").reason == "JobFailed"


def test_describe_and_status():
    failure = WorkerFailure("OOMKilled", "", 2, "mnist-2-x", 137)
    assert failure.describe() == "worker 2 (pod mnist-2-x) exited with code 137 (OOMKilled)"
    assert failure.as_status() == {"worker": 2, "pod": "mnist-2-x", "exitCode": 137, "reason": "OOMKilled",
                                   "message": failure.describe()}  # fmt: skip
    assert WorkerFailure("JobDeleted", "gone").describe() == "the workers failed: JobDeleted: gone"
    assert WorkerFailure("JobDeleted", "gone").as_status() == {
        "reason": "JobDeleted",
        "message": "the workers failed: JobDeleted: gone",
    }


def test_waiting_problems():
    pulling = pod(
        "b",
        1,
        "Pending",
        containerStatuses=[
            {"name": "worker", "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}
        ],
    )
    creating = pod(
        "a",
        0,
        "Pending",
        containerStatuses=[{"name": "worker", "state": {"waiting": {"reason": "ContainerCreating"}}}],
    )
    assert waiting_problem([creating]) is None
    assert (
        waiting_problem([creating, pulling]).describe_waiting()
        == "worker 1 (pod b) cannot start: ErrImagePull: not found"
    )
    config = pod(
        "c",
        0,
        "Pending",
        containerStatuses=[
            {
                "name": "worker",
                "state": {
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": "container has runAsNonRoot and image will run as root",
                    }
                },
            }
        ],
    )
    assert waiting_problem([pulling, config]).worker == 0
