"""Suspend, queue, resume and preemption as the planner writes them, read by the real kstatus.

The captures (tests/unit/charts/test_gitops_verdicts.py) hold one TrainJob per README row; here the
planner drives a TrainJob through the suspended states between them, including the brief
Resuming one no capture holds, and every step must match its README row under the real kstatus
library and the Argo CD health check.
"""

from __future__ import annotations

from typing import Any

from tests.chart import argocd_health
from tests.gitops import Kstatus, condition_columns, readme_rows, row_for
from trainjob_api.enums import Reason
from trainjob_operator.status.queue import QueueVerdict


def assert_as_documented(trainjob: dict[str, Any], kstatus: Kstatus, expected: str) -> None:
    """kstatus says `expected`, as does the TrainJob's README row, which also says its conditions."""
    row = row_for(trainjob, readme_rows())
    [verdict] = kstatus(trainjob)
    seen = (condition_columns(trainjob), verdict.status, argocd_health(trainjob)[0])
    assert seen == (row.conditions, row.kstatus, row.argocd), f"README row {row.label!r}: {verdict}"
    assert verdict.status == expected, verdict


def test_held_is_current_until_resumed(world_factory, kstatus: Kstatus) -> None:
    world = world_factory(runPolicy={"suspend": True})
    world.reconcile()
    world.reconcile()
    assert world.condition("Reconciling")["reason"] == "Suspended"
    assert_as_documented(world.trainjob, kstatus, "Current")
    world.edit_spec(runPolicy={"suspend": False})
    [verdict] = kstatus(world.trainjob)
    assert verdict.status == "InProgress", "the new generation is not observed yet"
    world.reconcile()
    assert (world.phase, world.condition("Reconciling")["reason"]) == ("Suspended", "Resuming")
    assert_as_documented(world.trainjob, kstatus, "InProgress")
    world.suspend_job(False)
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"
    assert_as_documented(world.trainjob, kstatus, "InProgress")


def test_held_while_running_is_current(world_factory, kstatus: Kstatus) -> None:
    world = world_factory()
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.edit_spec(runPolicy={"suspend": True})
    world.reconcile()
    world.suspend_job(True)
    world.reconcile()
    assert world.condition("Ready") is None, "the False Ready of the running job is gone"
    assert_as_documented(world.trainjob, kstatus, "Current")


def test_queued_and_preempted_are_in_progress(world_factory, kstatus: Kstatus) -> None:
    world = world_factory(labels={"kueue.x-k8s.io/queue-name": "gpus"})
    world.reconcile()
    world.reconcile()
    assert (world.phase, world.condition("Reconciling")["reason"]) == ("Suspended", "Queued")
    assert_as_documented(world.trainjob, kstatus, "InProgress")
    world.suspend_job(False)  # Kueue admits the workload
    world.start_pods()
    world.reconcile()
    assert_as_documented(world.trainjob, kstatus, "InProgress")
    world.suspend_job(True)  # Kueue preempts it
    world.queue = QueueVerdict(Reason.PREEMPTED, "Preempted: Preempted to accommodate a workload")
    world.reconcile()
    assert (world.phase, world.condition("Reconciling")["reason"]) == ("Suspended", "Preempted")
    assert_as_documented(world.trainjob, kstatus, "InProgress")
