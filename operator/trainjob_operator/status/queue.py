"""What a queue (Kueue) says about a TrainJob whose worker Job it holds, read from its Workload.

Kueue admits a TrainJob through its batch Job (see docs/platform.md): the Job is created
suspended, Kueue makes a Workload for it and unsuspends the Job once the Workload fits the
ClusterQueue's quota, and suspends it again to preempt it. The Workload's conditions say why a
Job waits: `QuotaReserved` False (pending: no quota yet) or `Evicted` True (preempted, or another
eviction), with Kueue's own reason and message.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainjob_api.enums import Reason
from trainjob_api.types import Body

#: Kueue's label on a Workload: the uid of the Job it stands for.
KUEUE_JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
#: Kueue's reason of an `Evicted` condition when a higher-priority workload took the quota.
KUEUE_PREEMPTED = "Preempted"


@dataclass(frozen=True)
class QueueVerdict:
    """Why the queue holds the workers: Queued (waiting for quota) or Preempted, in Kueue's words."""

    reason: Reason
    #: Kueue's reason and message, e.g. "Pending: couldn't assign flavors to pod set main: ...".
    detail: str


def queue_verdict(workloads: list[Body]) -> QueueVerdict | None:
    """What the Workloads of a suspended Job say; None when none says it waits."""
    for workload in workloads:
        conditions = {c.get("type"): c for c in (workload.get("status") or {}).get("conditions") or []}
        evicted = conditions.get("Evicted") or {}
        if evicted.get("status") == "True":
            reason = Reason.PREEMPTED if evicted.get("reason") == KUEUE_PREEMPTED else Reason.QUEUED
            return QueueVerdict(reason, _words(evicted))
        reserved = conditions.get("QuotaReserved") or {}
        if reserved.get("status") == "False":
            return QueueVerdict(Reason.QUEUED, _words(reserved))
    return None


def _words(condition: Body) -> str:
    return f"{condition.get('reason') or 'Unknown'}: {condition.get('message') or ''}".rstrip(": ")
