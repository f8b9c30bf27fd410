"""What the worker Job and its pods say, reduced to what the planner decides on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from trainjob_api.names import ANNOTATION_SUSPEND, ANNOTATION_TEMPLATE_HASH, LABEL_ATTEMPT
from trainjob_api.types import Body
from trainjob_operator.status.failures import WorkerFailure, creation_problem, first_failure, waiting_problem
from trainjob_operator.status.reported import final_status


class JobState(Enum):
    """The worker Job's state, as far as the TrainJob is concerned."""

    #: There is no Job.
    MISSING = "missing"
    #: The Job is being deleted (a group restart or a re-creation waits for it).
    DELETING = "deleting"
    #: The Job belongs to an earlier attempt (a restart was recorded but the Job not yet deleted).
    STALE = "stale"
    #: A Job of that name exists that this TrainJob does not control.
    FOREIGN = "foreign"
    SUSPENDED = "suspended"
    #: Some workers are not running yet.
    STARTING = "starting"
    #: Every worker runs or has finished successfully.
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class Observation:
    """The reduced state of the current attempt's Job and pods."""

    state: JobState
    #: Worker counts from the Job's status: active, succeeded, failed, total.
    workers: dict[str, int] = field(default_factory=dict)
    start_time: str | None = None
    completion_time: str | None = None
    #: The Job's failure condition reason (e.g. BackoffLimitExceeded, DeadlineExceeded) and message.
    job_reason: str = ""
    job_message: str = ""
    #: The worker failure that brought the group down (FAILED), or a worker that cannot start (STARTING).
    failure: WorkerFailure | None = None
    #: The `runPolicy.suspend` last applied to the Job (None when there is no Job).
    applied_suspend: bool | None = None
    #: Running workers of the current attempt.
    running: int = 0
    #: Whether the Job was built from another spec than the current one.
    outdated: bool = False
    #: The reporter's final status that rank 0 left when it ended (SUCCEEDED and FAILED only).
    final_status: dict[str, Any] = field(default_factory=dict)


def _condition(job: Body, *types: str) -> Body | None:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") in types and condition.get("status") == "True":
            return condition
    return None


def _is_current_pod(pod: Body, attempt: int) -> bool:
    metadata = pod.get("metadata", {})
    return (metadata.get("labels") or {}).get(LABEL_ATTEMPT) == str(attempt)


def controller_uid(body: Body) -> str | None:
    """The uid of an object's controller (a Job's TrainJob, a pod's Job), if it has one."""
    for reference in body.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("controller"):
            return reference.get("uid")
    return None


def _live_pods(pods: Sequence[Body], attempt: int) -> list[Body]:
    return [
        pod
        for pod in pods
        if _is_current_pod(pod, attempt) and not pod.get("metadata", {}).get("deletionTimestamp")
    ]


def awaits_pods(job: Body | None, pods: Sequence[Body], *, attempt: int, nodes: int) -> bool:
    """Whether the Job of attempt `attempt` is active and still lacks some of its `nodes` pods.

    Only then can the Job controller's FailedCreate Events explain why workers are missing.
    """
    if job is None or job.get("metadata", {}).get("deletionTimestamp") or job.get("spec", {}).get("suspend"):
        return False
    if (job.get("metadata", {}).get("labels") or {}).get(LABEL_ATTEMPT) != str(attempt):
        return False
    finished = _condition(job, "Failed", "FailureTarget", "Complete") is not None
    return not finished and len(_live_pods(pods, attempt)) < nodes


def observe(
    job: Body | None,
    pods: Sequence[Body],
    *,
    owner_uid: str,
    attempt: int,
    template_hash: str,
    nodes: int,
    creation_error: str | None = None,
) -> Observation:
    """Reduce the Job and the TrainJob's pods to one state, for attempt `attempt` of a `nodes`-worker job.

    `owner_uid` is the TrainJob's uid; `template_hash` is what the Job should carry for the
    current spec (see `builders.job`); `creation_error` is the message of the Job controller's
    latest FailedCreate Event, when pods are missing (see `awaits_pods`).
    """
    if job is None:
        return Observation(JobState.MISSING, _counts({}, nodes))
    metadata = job.get("metadata", {})
    if metadata.get("deletionTimestamp"):
        return Observation(JobState.DELETING, _counts({}, nodes))
    if controller_uid(job) != owner_uid:
        return Observation(JobState.FOREIGN, _counts({}, nodes))
    if (metadata.get("labels") or {}).get(LABEL_ATTEMPT) != str(attempt):
        return Observation(JobState.STALE, _counts({}, nodes))
    status = job.get("status", {})
    current = [pod for pod in pods if _is_current_pod(pod, attempt)]
    running = sum(1 for pod in _live_pods(pods, attempt) if pod.get("status", {}).get("phase") == "Running")
    # A worker that exited 0 counts as done at once, before the Job controller counts it.
    done = sum(1 for pod in current if pod.get("status", {}).get("phase") == "Succeeded")
    common: dict[str, Any] = {
        "workers": _counts(status, nodes),
        "start_time": status.get("startTime"),
        "completion_time": status.get("completionTime"),
        "applied_suspend": (metadata.get("annotations") or {}).get(ANNOTATION_SUSPEND) == "true",
        "running": running,
        "outdated": (metadata.get("annotations") or {}).get(ANNOTATION_TEMPLATE_HASH) != template_hash,
    }
    failed = _condition(job, "Failed", "FailureTarget")
    if failed is not None:
        return Observation(
            JobState.FAILED,
            job_reason=failed.get("reason", ""),
            job_message=failed.get("message", ""),
            failure=first_failure(current),
            final_status=final_status(current),
            **common,
        )
    if _condition(job, "Complete") is not None:
        return Observation(JobState.SUCCEEDED, final_status=final_status(current), **common)
    if job.get("spec", {}).get("suspend"):
        return Observation(JobState.SUSPENDED, **common)
    if running + max(done, common["workers"]["succeeded"]) >= nodes:
        return Observation(JobState.RUNNING, **common)
    problem = waiting_problem(current)
    if problem is None and creation_error is not None:
        problem = creation_problem(creation_error)
    return Observation(JobState.STARTING, failure=problem, **common)


def _counts(status: Body, nodes: int) -> dict[str, int]:
    """Worker counts from the Job's status, including the pods it has not yet added to its counters.

    The Job controller first lists a finished pod's uid in `uncountedTerminatedPods`, and may set
    FailureTarget in that same update: the counters alone would show a failed group with no failure.
    """
    uncounted = status.get("uncountedTerminatedPods") or {}
    return {
        "active": int(status.get("active") or 0),
        "succeeded": int(status.get("succeeded") or 0) + len(uncounted.get("succeeded") or ()),
        "failed": int(status.get("failed") or 0) + len(uncounted.get("failed") or ()),
        "total": nodes,
    }
