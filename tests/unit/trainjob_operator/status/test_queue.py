"""Kueue's Workload conditions, read as why a queue holds the workers."""

from __future__ import annotations

from trainjob_api.enums import Reason
from trainjob_operator.status.queue import QueueVerdict, queue_verdict


def workload(*conditions: tuple[str, str, str, str]) -> dict:
    return {
        "status": {
            "conditions": [
                {"type": kind, "status": status, "reason": reason, "message": message}
                for kind, status, reason, message in conditions
            ]
        }
    }


PENDING = ("QuotaReserved", "False", "Pending", "couldn't assign flavors to pod set main: insufficient quota")


def test_a_workload_without_quota_is_queued_in_kueues_words() -> None:
    assert queue_verdict([workload(PENDING)]) == QueueVerdict(
        Reason.QUEUED, "Pending: couldn't assign flavors to pod set main: insufficient quota"
    )


def test_an_eviction_for_priority_is_a_preemption() -> None:
    evicted = ("Evicted", "True", "Preempted", "Preempted to accommodate a workload (UID: 1)")
    assert queue_verdict([workload(PENDING, evicted)]) == QueueVerdict(
        Reason.PREEMPTED, "Preempted: Preempted to accommodate a workload (UID: 1)"
    )


def test_another_eviction_is_queued_with_its_reason() -> None:
    stopped = ("Evicted", "True", "ClusterQueueStopped", "The ClusterQueue is stopped")
    assert queue_verdict([workload(stopped)]) == QueueVerdict(
        Reason.QUEUED, "ClusterQueueStopped: The ClusterQueue is stopped"
    )


def test_an_admitted_or_unknown_workload_says_nothing() -> None:
    assert queue_verdict([workload(("QuotaReserved", "True", "QuotaReserved", "ok"))]) is None
    assert queue_verdict([{"metadata": {"name": "w"}}]) is None
    assert queue_verdict([]) is None
