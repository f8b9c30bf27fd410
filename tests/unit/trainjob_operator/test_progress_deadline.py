"""runPolicy.progressDeadlineSeconds: a running group that stops reporting progress is restarted or failed."""

import datetime

from trainjob_operator.planner import BACKGROUND, FOREGROUND
from trainjob_operator.timing import progress_overdue, timestamp

T = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def running_world(world_factory, **run_policy):
    world = world_factory(numNodes=2, runPolicy={"progressDeadlineSeconds": 60, **run_policy})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"
    return world


def report_progress(world, step: int) -> None:
    world.report(progress={"epoch": 1, "step": step, "lastUpdateTime": timestamp(world.now)})


def test_progress_overdue_counts_from_the_latest_moment():
    policy = {"progressDeadlineSeconds": 30}
    earlier, later = timestamp(T), timestamp(T + datetime.timedelta(seconds=20))
    assert progress_overdue(policy, (earlier, later), T + datetime.timedelta(seconds=49)) is None
    assert progress_overdue(policy, (later, None, earlier), T + datetime.timedelta(seconds=50)) == 30
    assert progress_overdue({}, (earlier,), T + datetime.timedelta(days=1)) is None
    assert progress_overdue(policy, (None,), T + datetime.timedelta(days=1)) is None


def test_reported_progress_keeps_a_running_group_alive(world_factory):
    world = running_world(world_factory, backoffLimit=1)
    for step in range(1, 6):
        world.now += datetime.timedelta(seconds=50)
        report_progress(world, step)
        result = world.reconcile(seconds=5)
        assert result.delete_job is None
    assert world.phase == "Running" and world.status["restarts"] == 0


def test_a_group_without_progress_restarts_with_the_reason(world_factory):
    world = running_world(world_factory, backoffLimit=1)
    report_progress(world, 3)
    assert world.reconcile(seconds=59).delete_job is None
    result = world.reconcile(seconds=1)
    assert world.phase == "Restarting"
    assert world.status["restarts"] == 1
    assert result.delete_job == FOREGROUND
    restarting = world.condition("Restarting")
    assert restarting["reason"] == "ProgressDeadlineExceeded"
    assert restarting["message"] == (
        "the workers failed: ProgressDeadlineExceeded: no progress reported for 60s "
        "(progressDeadlineSeconds: 60); the workers look hung; restarting all workers (1 of 1 restarts)"
    )
    assert world.status["failure"]["reason"] == "ProgressDeadlineExceeded"
    assert world.events[-1][:2] == ("Warning", "ProgressDeadlineExceeded")
    # The Job is being deleted (its pods stop): the restart is counted once.
    for _ in range(3):
        assert world.reconcile(seconds=30).create == ()
    assert world.status["restarts"] == 1


def test_a_restarted_group_gets_the_whole_deadline_then_fails_for_good(world_factory):
    world = running_world(world_factory, backoffLimit=1)
    report_progress(world, 3)
    world.reconcile(seconds=61)
    world.finish_job_deletion()
    world.reconcile(seconds=30)
    world.start_pods()
    world.reconcile(seconds=30)
    assert world.phase == "Running"
    # The last report (of the first attempt) is 121 s old, but the new group has just started.
    assert world.reconcile(seconds=59).delete_job is None
    result = world.reconcile(seconds=1)
    assert world.phase == "Failed"
    assert world.status["restarts"] == 1
    failed = world.condition("Failed")
    assert failed["reason"] == "ProgressDeadlineExceeded"
    assert failed["message"].endswith("the workers look hung; all 1 restarts used")
    assert result.delete_job == BACKGROUND, "a hung Job does not stop by itself"
    assert world.status["completionTime"] == timestamp(world.now)


def test_without_restarts_a_hung_group_fails_and_its_job_is_deleted(world_factory):
    world = running_world(world_factory)
    result = world.reconcile(seconds=60)
    assert world.phase == "Failed"
    assert world.condition("Failed")["reason"] == "ProgressDeadlineExceeded"
    assert result.delete_job == BACKGROUND
    assert world.status["failure"] == {
        "reason": "ProgressDeadlineExceeded",
        "message": "the workers failed: ProgressDeadlineExceeded: no progress reported for 60s "
        "(progressDeadlineSeconds: 60); the workers look hung",
    }


def test_the_deadline_counts_only_while_every_worker_runs(world_factory):
    world = world_factory(numNodes=2, runPolicy={"progressDeadlineSeconds": 60})
    world.reconcile()
    world.start_pods(running=1)
    world.reconcile(seconds=600)
    assert world.phase == "Created"
    world.start_pods()
    world.reconcile(seconds=600)
    assert world.phase == "Running", "the deadline starts when the group runs"
    world.edit_spec(runPolicy={"suspend": True})
    world.reconcile()
    world.suspend_job(True)
    world.reconcile(seconds=600)
    assert world.phase == "Suspended"


def test_no_deadline_no_hang(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.reconcile(seconds=86400)
    assert world.phase == "Running"
