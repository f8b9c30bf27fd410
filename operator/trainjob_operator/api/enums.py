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
