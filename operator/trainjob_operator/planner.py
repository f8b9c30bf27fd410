"""The control loop's decisions, as a pure function: (TrainJob, Job, pods, now) -> Plan.

The planner reads the TrainJob (with its status), the worker Job of the current attempt and the
TrainJob's pods, and returns what to do: children to create, the status fields the operator owns
(a merge patch that leaves the reporter's fields alone, but for the final status rank 0 left in
its termination message when an attempt ends: see `trainjob_api.final_status`), Events, and the
Job or pods to delete.

The life of a TrainJob:

- Pending -> Created: the children are created (ServiceAccount, Role, RoleBinding, headless
  Service, and the Indexed Job of attempt `status.restarts`).
- Created -> Running when every worker runs; Running/Created <-> Suspended with the Job.
- A worker fails (the Job fails at once, its backoffLimit being 0): while `status.restarts` is
  below `runPolicy.backoffLimit`, Restarting: the restart is counted first, then the Job is deleted
  in the foreground (its pods terminate first); when it is gone, the Job of the next attempt is
  created under the same name, so the workers keep their hostnames and the master its address,
  and no worker of the old group can still write a checkpoint the new group reads. Otherwise
  Failed, with the worker, pod, exit code and reason in the condition, the Event and
  `status.failure`.
- Succeeded when the Job completes (EarlyStopped too, if the trainer stopped early).
- Workers that cannot start (an image that cannot be pulled, a pod the Job controller cannot
  create: its FailedCreate Event says why) keep the job Created with a Warning. A child the
  apiserver refuses as invalid (InvalidWorkers) or worker pods that the namespace's Pod Security
  level forbids (PodSecurityViolation) fail it at once: only a changed spec can help, and the Job
  is deleted so that its controller stops retrying.
- A finished TrainJob never creates anything again: `cleanPodPolicy` is applied to its pods and,
  after `ttlSecondsAfterFinished`, the TrainJob itself is deleted (its children with it). The
  restart count lives in the TrainJob's status, so it can neither reset nor loop when children
  disappear.
- A running group that reports no progress for `progressDeadlineSeconds` (the reporter's
  `status.progress.lastUpdateTime`, or since every worker of the attempt runs) is hung: it is
  restarted or failed like a failed group, with reason ProgressDeadlineExceeded; a final failure
  deletes its Job, since nothing else would stop it.
- `activeDeadlineSeconds` is enforced twice: the Job carries what is left of it (so Kubernetes
  stops the pods even without the operator), and the planner fails the job with reason
  DeadlineExceeded once `status.startTime` + deadline has passed (also between attempts).
- A spec change before the workers first ran (say, a fixed image tag) re-creates the Job; after
  that, the CRD forbids changing what the Job is made of, and other changes apply to the next
  attempt.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainjob_api.defaulting import apply_defaults
from trainjob_api.enums import CleanPodPolicy, ConditionType, Phase, Reason
from trainjob_api.merge import merge
from trainjob_api.names import ANNOTATION_SUSPEND, KUEUE_QUEUE_LABEL, job_name
from trainjob_operator.builders.children import children
from trainjob_operator.builders.job import desired_template_hash, kueue_labels, suspend_label_value
from trainjob_operator.builders.meta import Body
from trainjob_operator.status.conditions import Transition, render_conditions, summary
from trainjob_operator.status.failures import UNRECOVERABLE_REASONS, WorkerFailure, unseen_failure
from trainjob_operator.status.observe import JobState, Observation, observe
from trainjob_operator.status.queue import QueueVerdict
from trainjob_operator.timing import (
    deadline_passed,
    progress_overdue,
    remaining_deadline,
    timestamp,
    ttl_expired,
)

FOREGROUND = "Foreground"
BACKGROUND = "Background"
#: Reasons of the transition to Created, kept while the workers start without problems.
CREATION_REASONS = frozenset({Reason.WORKERS_CREATED, Reason.RESTARTED})
#: The reason of a group that stopped reporting progress (runPolicy.progressDeadlineSeconds).
PROGRESS_DEADLINE_EXCEEDED = Reason.PROGRESS_DEADLINE_EXCEEDED
#: Status fields a None removes (a merge patch null); other fields keep their last value.
CLEARED_WHEN_NONE = frozenset({"startTime"})


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to post on the TrainJob, for a transition to `phase`."""

    type: str
    reason: str
    message: str
    phase: str


@dataclass(frozen=True)
class Plan:
    """What to do, in order: create children, patch the status, then delete or patch children."""

    create: tuple[dict[str, Any], ...] = ()
    #: A JSON merge patch of the status subresource with the operator's fields only; None: no change.
    status: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    #: Delete the worker Job with this propagation policy.
    delete_job: str | None = None
    #: A merge patch for the worker Job (suspend and resume).
    patch_job: dict[str, Any] | None = None
    #: Worker pods to delete (cleanPodPolicy).
    delete_pods: tuple[str, ...] = ()
    delete_trainjob: bool = False


@dataclass(frozen=True)
class _Decision:
    transition: Transition
    restarts: int
    failure: WorkerFailure | None = None
    create: bool = False
    delete_job: str | None = None
    start_time: str | None = None
    completion_time: str | None = None


def plan(
    trainjob: Body,
    job: Body | None,
    pods: Sequence[Body],
    now: datetime.datetime,
    creation_error: str | None = None,
    queue: QueueVerdict | None = None,
) -> Plan:
    """Decide what to do about a TrainJob, given its worker Job (or None) and its pods (any attempt).

    `creation_error` is why the Job controller cannot create missing worker pods (its latest
    FailedCreate Event), if it says; `queue` is why a queue (Kueue) holds the suspended Job.
    """
    trainjob = apply_defaults(trainjob)
    status = trainjob.get("status") or {}
    if _phase(status).finished:
        return _finished(trainjob, pods, now)
    restarts = int(status.get("restarts") or 0)
    observation = observe(
        job,
        pods,
        owner_uid=trainjob["metadata"].get("uid", ""),
        attempt=restarts,
        template_hash=desired_template_hash(trainjob, restarts),
        nodes=trainjob["spec"]["numNodes"],
        creation_error=creation_error,
    )
    reported = _unwritten(status, observation.final_status)
    if reported:
        status = merge(status, reported)
        trainjob = {**trainjob, "status": status}
    decision = _decide(trainjob, observation, now, queue)
    result = _render(trainjob, decision, observation, now)
    if reported:
        result = dataclasses.replace(result, status={**(result.status or {}), **reported})
    if not decision.transition.phase.finished:
        return result
    finished = _finished({**trainjob, "status": {**status, **(result.status or {})}}, pods, now)
    return dataclasses.replace(
        result, delete_pods=finished.delete_pods, delete_trainjob=finished.delete_trainjob
    )


def _unwritten(status: Mapping[str, Any], final: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of rank 0's final status that its last status write did not land."""
    return {name: value for name, value in final.items() if merge(dict(status), {name: value}) != status}


def failed_to_create(trainjob: Body, reason: Reason, message: str, now: datetime.datetime) -> Plan:
    """The plan when a child cannot be made: the TrainJob fails for good.

    The apiserver rejected the child as invalid, or an object that is not the TrainJob's holds
    its name.
    """
    trainjob = apply_defaults(trainjob)
    restarts = int((trainjob.get("status") or {}).get("restarts") or 0)
    failure = WorkerFailure(reason, message)
    transition = Transition(Phase.FAILED, reason, message, warning=True)
    decision = _Decision(transition, restarts, failure, completion_time=timestamp(now))
    return _render(trainjob, decision, Observation(JobState.MISSING, {}), now)


def _decide(
    trainjob: Body, seen: Observation, now: datetime.datetime, queue: QueueVerdict | None = None
) -> _Decision:
    spec = trainjob["spec"]
    status = trainjob.get("status") or {}
    phase = _phase(status)
    restarts = int(status.get("restarts") or 0)
    start_time = _start_time(status, seen, now)
    nodes = spec["numNodes"]

    if seen.state is JobState.SUCCEEDED:
        return _succeeded(status, restarts, start_time, seen.completion_time or timestamp(now), nodes)
    if seen.state is JobState.FAILED:
        if seen.job_reason == Reason.DEADLINE_EXCEEDED:
            return _deadline_exceeded(spec, restarts, start_time, now, seen.failure, delete=False)
        failure = seen.failure or unseen_failure(seen.job_reason, seen.job_message)
        return _failed_or_restart(spec, restarts, failure, start_time, now)
    if deadline_passed(spec["runPolicy"], start_time, now):
        return _deadline_exceeded(
            spec, restarts, start_time, now, None, delete=seen.state is not JobState.MISSING
        )
    if seen.state is JobState.DELETING:
        return _Decision(_current(status), restarts, start_time=start_time)
    if seen.state is JobState.FOREIGN:
        message = (
            f"a Job named {job_name(trainjob['metadata']['name'])!r} exists that this TrainJob does not own"
        )
        transition = Transition(
            Phase.PENDING, Reason.JOB_NAME_TAKEN, f"{message}; waiting for it to go", warning=True
        )
        return _Decision(transition, restarts, start_time=start_time)
    if seen.state is JobState.STALE:
        return _Decision(_current(status), restarts, delete_job=FOREGROUND, start_time=start_time)
    if seen.state is JobState.MISSING:
        if phase in (Phase.PENDING, Phase.RESTARTING):
            reason = Reason.RESTARTED if phase == Phase.RESTARTING else Reason.WORKERS_CREATED
            message = f"created {nodes} worker{'s' if nodes > 1 else ''} (attempt {restarts + 1})"
            return _Decision(
                Transition(Phase.CREATED, reason, message), restarts, create=True, start_time=start_time
            )
        failure = WorkerFailure(Reason.JOB_DELETED, "the worker Job was deleted while the job was active")
        return _failed_or_restart(spec, restarts, failure, start_time, now)
    if seen.outdated and not status.get("startTime"):
        message = "the spec changed before the workers started: re-creating them"
        return _Decision(
            Transition(Phase.PENDING, Reason.SPEC_CHANGED, message), restarts, delete_job=FOREGROUND
        )
    if seen.state is JobState.SUSPENDED:
        return _Decision(_suspended(trainjob, queue), restarts, start_time=start_time)
    if seen.state is JobState.RUNNING:
        hung = _hung(spec, status, now)
        if hung is not None:
            return _failed_or_restart(
                spec, restarts, hung, start_time, now, reason=PROGRESS_DEADLINE_EXCEEDED, stop_job=True
            )
        message = f"all {nodes} workers are running"
        return _Decision(
            Transition(Phase.RUNNING, Reason.WORKERS_RUNNING, message), restarts, start_time=start_time
        )
    if seen.failure is not None and seen.failure.reason in UNRECOVERABLE_REASONS:
        message = f"{seen.failure.describe_waiting()}; change the spec and create the TrainJob again"
        return _Decision(
            Transition(Phase.FAILED, seen.failure.reason, message, warning=True),
            restarts,
            seen.failure,
            delete_job=BACKGROUND,
            start_time=start_time,
            completion_time=timestamp(now),
        )
    if seen.failure is not None:
        transition = Transition(
            Phase.CREATED, seen.failure.reason, seen.failure.describe_waiting(), warning=True
        )
        return _Decision(transition, restarts, start_time=start_time)
    current = _current(status)
    if current.phase is Phase.CREATED and current.reason in CREATION_REASONS:
        return _Decision(current, restarts, start_time=start_time)
    message = f"{seen.running} of {nodes} workers running"
    return _Decision(
        Transition(Phase.CREATED, Reason.WORKERS_STARTING, message), restarts, start_time=start_time
    )


def _phase(status: Mapping[str, Any]) -> Phase:
    return Phase(status.get("phase") or Phase.PENDING)


def _current(status: Mapping[str, Any]) -> Transition:
    """The transition the status already shows (to keep it while waiting)."""
    reason, message = summary(status.get("conditions") or [])
    return Transition(_phase(status), reason or Reason.WAITING, message)


def _start_time(status: Mapping[str, Any], seen: Observation, now: datetime.datetime) -> str | None:
    """When the workers started: the Job's start, recorded once every worker runs.

    Cleared while suspended, so that a resumed job counts its deadline afresh (as a Job does) and
    its spec may change meanwhile (the CRD allows it while `status.startTime` is unset).
    """
    if seen.state is JobState.SUSPENDED:
        return None
    if seen.state is JobState.RUNNING and not status.get("startTime"):
        return seen.start_time or timestamp(now)
    return status.get("startTime")


def _succeeded(
    status: Mapping[str, Any], restarts: int, start: str | None, end: str, nodes: int
) -> _Decision:
    message = f"all {nodes} workers finished successfully"
    early = status.get("earlyStopping") or {}
    if early.get("triggered"):
        reason, message = (
            Reason.EARLY_STOPPED,
            f"{message}; stopped early: {early.get('message') or early.get('reason')}",
        )
    elif status.get("stoppedOnRequest"):
        reason, message = Reason.STOPPED_ON_REQUEST, f"{message}; stopped on request"
    else:
        reason = Reason.COMPLETED
    return _Decision(
        Transition(Phase.SUCCEEDED, reason, message), restarts, start_time=start, completion_time=end
    )


def _failed_or_restart(
    spec: Mapping[str, Any],
    restarts: int,
    failure: WorkerFailure,
    start: str | None,
    now: datetime.datetime,
    *,
    reason: str | None = None,
    stop_job: bool = False,
) -> _Decision:
    """Restart the whole group if the budget allows, else fail for good.

    `reason` names the Restarting or Failed transition when the operator itself judged the group
    failed (instead of WorkerFailed or BackoffLimitExceeded); `stop_job`: the Job still runs, so
    a final failure deletes it.
    """
    limit = spec["runPolicy"]["backoffLimit"]
    if restarts < limit:
        message = f"{failure.describe()}; restarting all workers ({restarts + 1} of {limit} restarts)"
        transition = Transition(Phase.RESTARTING, reason or Reason.WORKER_FAILED, message, warning=True)
        return _Decision(transition, restarts + 1, failure, delete_job=FOREGROUND, start_time=start)
    if limit:
        transition = Transition(
            Phase.FAILED,
            reason or Reason.BACKOFF_LIMIT_EXCEEDED,
            f"{failure.describe()}; all {limit} restarts used",
            warning=True,
        )
    else:
        transition = Transition(
            Phase.FAILED, reason or Reason.WORKER_FAILED, failure.describe(), warning=True
        )
    return _Decision(
        transition,
        restarts,
        failure,
        delete_job=BACKGROUND if stop_job else None,
        start_time=start,
        completion_time=timestamp(now),
    )


def _hung(spec: Mapping[str, Any], status: Mapping[str, Any], now: datetime.datetime) -> WorkerFailure | None:
    """The failure of a running group that reported no progress for `progressDeadlineSeconds`.

    The clock starts afresh when the current attempt's workers all run (the Running condition's
    last transition), so a restarted group gets the whole deadline to report.
    """
    if _phase(status) is not Phase.RUNNING:
        return None
    running_since = next(
        (
            condition.get("lastTransitionTime")
            for condition in status.get("conditions") or []
            if condition.get("type") == ConditionType.RUNNING and condition.get("status") == "True"
        ),
        None,
    )
    last_report = (status.get("progress") or {}).get("lastUpdateTime")
    run_policy = spec["runPolicy"]
    idle = progress_overdue(run_policy, (running_since, last_report), now)
    if idle is None:
        return None
    message = (
        f"no progress reported for {idle:.0f}s (progressDeadlineSeconds: "
        f"{run_policy['progressDeadlineSeconds']}); the workers look hung"
    )
    return WorkerFailure(PROGRESS_DEADLINE_EXCEEDED, message)


def _deadline_exceeded(
    spec: Mapping[str, Any],
    restarts: int,
    start: str | None,
    now: datetime.datetime,
    failure: WorkerFailure | None,
    *,
    delete: bool,
) -> _Decision:
    deadline = spec["runPolicy"].get("activeDeadlineSeconds")
    message = f"the job was active longer than activeDeadlineSeconds ({deadline}s)"
    if failure is not None and failure.reason != Reason.DEADLINE_EXCEEDED:
        message += f"; {failure.describe()}"
    stopped = failure or WorkerFailure(Reason.DEADLINE_EXCEEDED, message)
    return _Decision(
        Transition(Phase.FAILED, Reason.DEADLINE_EXCEEDED, message, warning=True),
        restarts,
        stopped,
        delete_job=BACKGROUND if delete else None,
        start_time=start,
        completion_time=timestamp(now),
    )


def _suspended(trainjob: Body, queue: QueueVerdict | None) -> Transition:
    if trainjob["spec"]["runPolicy"]["suspend"]:
        return Transition(Phase.SUSPENDED, Reason.SUSPENDED, "suspended by runPolicy.suspend")
    if KUEUE_QUEUE_LABEL in kueue_labels(trainjob):
        waiting = f"waiting for the queue {kueue_labels(trainjob)[KUEUE_QUEUE_LABEL]!r} to admit the workers"
        if queue is None:
            return Transition(Phase.SUSPENDED, Reason.QUEUED, waiting)
        if queue.reason is Reason.PREEMPTED:
            resume = "they resume from their checkpoint once admitted again"
            return Transition(Phase.SUSPENDED, queue.reason, f"preempted by Kueue ({queue.detail}); {resume}")
        return Transition(Phase.SUSPENDED, queue.reason, f"{waiting}; Kueue: {queue.detail}")
    return Transition(Phase.SUSPENDED, Reason.RESUMING, "the workers are being resumed")


#: Job states in which the Job is the current attempt's and still active.
ACTIVE_JOB_STATES = frozenset({JobState.SUSPENDED, JobState.STARTING, JobState.RUNNING})


def _generation(trainjob: Body) -> int:
    """The TrainJob's `metadata.generation` (0 where the apiserver has set none)."""
    return int(trainjob["metadata"].get("generation") or 0)


def _suspend_patch(trainjob: Body, seen: Observation) -> dict[str, Any] | None:
    """Apply a change of runPolicy.suspend to the Job, once.

    Only a change is applied, so as never to fight a queue (Kueue) that suspends and resumes the
    Job itself.
    """
    wanted = trainjob["spec"]["runPolicy"]["suspend"]
    if seen.state not in ACTIVE_JOB_STATES or seen.applied_suspend == wanted:
        return None
    annotations = {ANNOTATION_SUSPEND: suspend_label_value(wanted)}
    return {"metadata": {"annotations": annotations}, "spec": {"suspend": wanted}}


def _render(trainjob: Body, decision: _Decision, seen: Observation, now: datetime.datetime) -> Plan:
    """Turn a decision into the status patch, Events and actions."""
    status = trainjob.get("status") or {}
    generation = _generation(trainjob)
    transition = decision.transition
    early = status.get("earlyStopping") or {}
    early_stop = (
        (str(early.get("reason") or Reason.EARLY_STOPPED), str(early.get("message") or ""))
        if early.get("triggered")
        else None
    )
    conditions = render_conditions(
        status.get("conditions") or [],
        transition,
        generation=generation,
        now=timestamp(now),
        early_stop=early_stop,
    )
    new: dict[str, Any] = {
        "phase": str(transition.phase),
        "conditions": conditions,
        "observedGeneration": generation,
        "restarts": decision.restarts,
        "workers": seen.workers
        or {"active": 0, "succeeded": 0, "failed": 0, "total": trainjob["spec"]["numNodes"]},
        "startTime": decision.start_time,
        "completionTime": decision.completion_time,
        "failure": decision.failure.as_status() if decision.failure else None,
    }
    patch = {
        key: value
        for key, value in new.items()
        if status.get(key) != value and (value is not None or key in CLEARED_WHEN_NONE)
    }
    events = ()
    if (status.get("phase"), summary(status.get("conditions") or [])[0]) != (
        transition.phase,
        transition.reason,
    ):
        kind = "Warning" if transition.warning else "Normal"
        events = (Event(kind, transition.reason, transition.message, str(transition.phase)),)
    create = ()
    if decision.create:
        deadline = remaining_deadline(trainjob["spec"]["runPolicy"], decision.start_time, now)
        create = tuple(children(trainjob, decision.restarts, deadline))
    return Plan(
        create=create,
        status=patch or None,
        events=events,
        delete_job=decision.delete_job,
        patch_job=_suspend_patch(trainjob, seen) if not decision.delete_job else None,
    )


def _finished(trainjob: Body, pods: Sequence[Body], now: datetime.datetime) -> Plan:
    """A finished TrainJob: apply cleanPodPolicy to its pods, and delete it once its TTL has passed.

    A spec changed after the end changes nothing but `observedGeneration`, which records it as seen.
    """
    run_policy = trainjob["spec"]["runPolicy"]
    status = trainjob.get("status") or {}
    generation = _generation(trainjob)
    policy = run_policy["cleanPodPolicy"]
    live = [pod for pod in pods if not pod.get("metadata", {}).get("deletionTimestamp")]
    if policy == CleanPodPolicy.RUNNING:
        live = [
            pod for pod in live if pod.get("status", {}).get("phase") in ("Pending", "Running", "Unknown")
        ]
    doomed = () if policy == CleanPodPolicy.NONE else tuple(pod["metadata"]["name"] for pod in live)
    return Plan(
        status=None if status.get("observedGeneration") == generation else {"observedGeneration": generation},
        delete_pods=doomed,
        delete_trainjob=ttl_expired(run_policy, status.get("completionTime"), now),
    )
