"""The closed vocabularies of the TrainJob API: phases, conditions and the spec's enums."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """The one-word summary of where a TrainJob is (`status.phase`)."""

    #: Accepted; the operator has not created the workers yet (or re-creates them after a spec change).
    PENDING = "Pending"
    #: The workers exist but not all of them run yet (scheduling, pulling images, starting).
    CREATED = "Created"
    #: Every worker runs (or has already finished successfully).
    RUNNING = "Running"
    #: A worker failed; the whole group is being torn down and started again.
    RESTARTING = "Restarting"
    #: The workers are suspended (by `runPolicy.suspend` or a queue such as Kueue).
    SUSPENDED = "Suspended"
    #: Training finished: every worker exited 0.
    SUCCEEDED = "Succeeded"
    #: Training failed for good (restart budget spent, deadline exceeded, invalid workers).
    FAILED = "Failed"

    @property
    def finished(self) -> bool:
        """Whether the phase is terminal: nothing changes a finished TrainJob any more."""
        return self in (Phase.SUCCEEDED, Phase.FAILED)


class ConditionType(StrEnum):
    """The condition types the operator maintains in `status.conditions`."""

    CREATED = "Created"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    #: kstatus/Argo CD summary: True once training succeeded (the desired end state).
    READY = "Ready"
    #: kstatus: True while the job makes progress towards its end state (InProgress).
    RECONCILING = "Reconciling"
    #: kstatus: True when the job failed and will not make progress any more (Failed).
    STALLED = "Stalled"


class Backend(StrEnum):
    """The torch.distributed backend (`spec.backend`)."""

    AUTO = "auto"
    NCCL = "nccl"
    GLOO = "gloo"


class CleanPodPolicy(StrEnum):
    """Which worker pods to delete once the TrainJob has finished (`spec.runPolicy.cleanPodPolicy`)."""

    NONE = "None"
    RUNNING = "Running"
    ALL = "All"


class Mode(StrEnum):
    """Whether a smaller (`min`) or a larger (`max`) monitored metric is better."""

    MIN = "min"
    MAX = "max"


PULL_POLICIES = ("Always", "IfNotPresent", "Never")
CONDITION_STATUSES = ("True", "False", "Unknown")


class Reason(StrEnum):
    """The `reason` of the TrainJob's conditions and Events, and of its local run's status.

    The operator writes them in a cluster and the local runner in a run directory; `trainjob
    status`, dashboards and GitOps checks read them. Worker failures keep the reason the
    container or pod reported (`Error`, `OOMKilled`, `Evicted`, ...).
    """

    #: Waiting: the status shows no earlier transition yet.
    WAITING = "Waiting"
    #: The worker pods were created (the first attempt).
    WORKERS_CREATED = "WorkersCreated"
    #: The worker pods were created again after a group restart.
    RESTARTED = "Restarted"
    #: The workers exist, not all of them run yet.
    WORKERS_STARTING = "WorkersStarting"
    #: Every worker runs.
    WORKERS_RUNNING = "WorkersRunning"
    #: `runPolicy.suspend` is true.
    SUSPENDED = "Suspended"
    #: A queue (Kueue) holds the workers until it admits them.
    QUEUED = "Queued"
    #: A queue (Kueue) preempted the workers for a job of higher priority: they stopped gracefully
    #: (checkpoint, exit as on a suspend) and resume from their checkpoint once admitted again.
    PREEMPTED = "Preempted"
    #: The workers are being resumed after a suspension.
    RESUMING = "Resuming"
    #: The spec changed: the workers are re-created from the new spec.
    SPEC_CHANGED = "SpecChanged"
    #: Every worker exited 0.
    COMPLETED = "Completed"
    #: Training ended early because the monitored metric stopped improving.
    EARLY_STOPPED = "EarlyStopped"
    #: Training ended because someone asked it to stop (the stop-request annotation).
    STOPPED_ON_REQUEST = "StoppedOnRequest"
    #: A worker failed (restarting the group, or for good when no restart is allowed).
    WORKER_FAILED = "WorkerFailed"
    #: A worker failed and every restart of `runPolicy.backoffLimit` is spent.
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    #: The job ran longer than `runPolicy.activeDeadlineSeconds`.
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    #: The group reported no progress for `runPolicy.progressDeadlineSeconds`.
    PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
    #: The apiserver refused a child object the operator built from the spec.
    INVALID_WORKERS = "InvalidWorkers"
    #: A Job of the TrainJob's name that the TrainJob does not own is in the way.
    JOB_NAME_TAKEN = "JobNameTaken"
    #: A ServiceAccount, Role, RoleBinding or Service of a child's name exists and is not the
    #: TrainJob's: the workers would run with someone else's identity, so the job fails.
    CHILD_NAME_TAKEN = "ChildNameTaken"
    #: The worker Job was deleted while the job was active.
    JOB_DELETED = "JobDeleted"
    #: A local run was interrupted (Ctrl-C).
    INTERRUPTED = "Interrupted"
