"""What went wrong with which worker, read from the worker pods.

A failed group usually shows several failed pods: the first one to fail is the cause, the others
were stopped by the Job controller (exit 143) or lost their peers. So the earliest failure of a
pod that was not being deleted wins. Exit times have a resolution of one second, and a peer that
lost its rank often exits (code 1) within the same second: between failures of the same second,
a worker killed by a signal (exit code above 128: OOM kill, SIGKILL, segfault) wins.

Workers that cannot start (image pull errors, a bad config, no node fits) fail nothing by
themselves; they are reported as problems while the job waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trainjob_api.final_status import is_final_status
from trainjob_api.names import COMPLETION_INDEX, WORKER_CONTAINER
from trainjob_api.types import Body

#: Container waiting reasons that mean the worker cannot start without a change.
STUCK_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: A container killed by signal n exits with this plus n (as a shell reports it).
SIGNAL_EXIT_BASE = 128
#: Pod conditions whose reason explains why a pod was stopped from outside (preemption, eviction).
DISRUPTION_CONDITION = "DisruptionTarget"
#: The Job controller's reason for a failed Job when one of its pods failed (the worker Job
#: tolerates none).
POD_FAILED_JOB_REASON = "BackoffLimitExceeded"
#: The reason of a failure whose pod was gone before it could be read.
WORKER_LOST = "WorkerLost"
#: How Pod Security admission words a refusal ("pods ... is forbidden: violates PodSecurity ...").
POD_SECURITY_REFUSAL = "violates PodSecurity"
#: Why the workers cannot start, when no retry can help: the spec itself must change.
UNRECOVERABLE_REASONS = frozenset({"PodSecurityViolation"})
#: The Job controller's Event when it cannot create a pod, and how its message starts.
FAILED_CREATE = "FailedCreate"
FAILED_CREATE_PREFIX = "Error creating: "


@dataclass(frozen=True)
class WorkerFailure:
    """Which worker failed or is stuck, and why."""

    reason: str
    message: str = ""
    worker: int | None = None
    pod: str = ""
    exit_code: int | None = None

    def describe(self) -> str:
        """One sentence for a condition message and an Event: worker, pod, exit code, reason, details."""
        who = "the workers" if self.worker is None else f"worker {self.worker}"
        if self.pod:
            who += f" (pod {self.pod})"
        if self.exit_code is not None:
            what = f"exited with code {self.exit_code} ({self.reason})"
        else:
            what = f"failed: {self.reason}"
        return f"{who} {what}: {self.message}" if self.message else f"{who} {what}"

    def describe_waiting(self) -> str:
        """One sentence for a worker that cannot start."""
        if self.worker is not None:
            who = f"worker {self.worker} (pod {self.pod})"
        else:
            who = f"pod {self.pod}" if self.pod else "the workers"
        return f"{who} cannot start: {self.reason}" + (f": {self.message}" if self.message else "")

    def as_status(self) -> dict[str, Any]:
        """The `status.failure` object."""
        fields = {
            "worker": self.worker,
            "pod": self.pod or None,
            "exitCode": self.exit_code,
            "reason": self.reason,
            "message": self.describe(),
        }
        return {key: value for key, value in fields.items() if value is not None}


def worker_index(pod: Body) -> int | None:
    """The pod's completion index (its node rank), from the label or annotation the Job controller sets."""
    metadata = pod.get("metadata", {})
    for source in (metadata.get("labels") or {}, metadata.get("annotations") or {}):
        if str(source.get(COMPLETION_INDEX, "")).isdigit():
            return int(source[COMPLETION_INDEX])
    return None


def _container_statuses(pod: Body) -> list[Body]:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    workers = [status for status in statuses if status.get("name") == WORKER_CONTAINER]
    return workers or list(statuses)


def _pod_failure(pod: Body) -> tuple[str, WorkerFailure] | None:
    """(when it failed, why) for a failed pod or a worker container that exited non-zero."""
    name = pod.get("metadata", {}).get("name", "")
    index = worker_index(pod)
    for status in _container_statuses(pod):
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            reason = terminated.get("reason") or "Error"
            message = terminated.get("message", "")
            if is_final_status(message):  # the reporter's final status, not a death rattle
                message = ""
            failure = WorkerFailure(reason, message, index, name, terminated["exitCode"])
            return terminated.get("finishedAt") or "", failure
    pod_status = pod.get("status", {})
    if pod_status.get("phase") != "Failed":
        return None
    if pod_status.get("reason"):
        return "", WorkerFailure(pod_status["reason"], pod_status.get("message", ""), index, name)
    disruption = _disruption(pod)
    return "", WorkerFailure(disruption.get("reason") or "Failed", disruption.get("message", ""), index, name)


def _disruption(pod: Body) -> Body:
    """The pod's DisruptionTarget condition (preemption, eviction, garbage collection), or {}."""
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == DISRUPTION_CONDITION and condition.get("status") == "True":
            return condition
    return {}


def first_failure(pods: Iterable[Body]) -> WorkerFailure | None:
    """The failure that most likely brought the group down, or None if no pod failed."""
    candidates = []
    for pod in pods:
        found = _pod_failure(pod)
        if found is not None:
            finished_at, failure = found
            deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
            signalled = failure.exit_code is not None and failure.exit_code > SIGNAL_EXIT_BASE
            candidates.append(((deleting, finished_at or "~", not signalled, failure.worker or 0), failure))
    return min(candidates, key=lambda candidate: candidate[0])[1] if candidates else None


def unseen_failure(job_reason: str, job_message: str) -> WorkerFailure:
    """Why the group failed when no pod of the attempt shows it, from the Job's failure condition.

    A failed pod that is gone already was removed from outside: the pod garbage collector deletes
    the pods of a node that no longer exists (after failing them), an eviction or a person
    deletes them. The Job then only says that a pod failed.
    """
    if job_reason == POD_FAILED_JOB_REASON:
        message = (
            "a worker failed and its pod was gone before its failure could be read "
            "(its node was lost, or it was evicted or deleted)"
        )
        return WorkerFailure(WORKER_LOST, message)
    return WorkerFailure(job_reason or "JobFailed", job_message)


def _waiting_problem(pod: Body) -> WorkerFailure | None:
    name = pod.get("metadata", {}).get("name", "")
    for status in _container_statuses(pod):
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_WAITING_REASONS:
            return WorkerFailure(waiting["reason"], waiting.get("message", ""), worker_index(pod), name)
    for condition in pod.get("status", {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return WorkerFailure("Unschedulable", condition.get("message", ""), worker_index(pod), name)
    return None


def waiting_problem(pods: Sequence[Body]) -> WorkerFailure | None:
    """The first worker (by index) that cannot start, or None."""
    problems = [problem for pod in pods if (problem := _waiting_problem(pod)) is not None]
    return min(problems, key=lambda problem: problem.worker or 0) if problems else None


def creation_problem(message: str) -> WorkerFailure:
    """Why the Job controller cannot create the worker pods, from the message of its FailedCreate Event.

    A refusal by Pod Security admission is `PodSecurityViolation` (unrecoverable: the namespace
    enforces a level the pod template breaks); anything else (a quota, a missing ServiceAccount)
    is `FailedCreate`, which the Job controller keeps retrying.
    """
    reason = "PodSecurityViolation" if POD_SECURITY_REFUSAL in message else FAILED_CREATE
    return WorkerFailure(reason, message.removeprefix(FAILED_CREATE_PREFIX))
