"""The planner: every phase transition, restart counting, deadlines, TTL, cleanup, suspension."""

import datetime

import pytest

from trainjob_api.enums import Reason
from trainjob_api.final_status import encode_final_status
from trainjob_api.status_fields import REPORTER_FIELDS
from trainjob_operator.planner import BACKGROUND, FOREGROUND, Plan, failed_to_create, plan
from trainjob_operator.status.observe import awaits_pods
from trainjob_operator.status.queue import QueueVerdict
from trainjob_operator.timing import remaining_deadline


def test_a_new_trainjob_creates_its_children_and_is_created(world_factory):
    world = world_factory(numNodes=2)
    result = world.reconcile()
    assert [child["kind"] for child in result.create] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Service",
        "Job",
    ]
    assert world.phase == "Created"
    assert world.status["restarts"] == 0
    assert world.status["observedGeneration"] == 1
    assert world.status["workers"] == {"active": 0, "succeeded": 0, "failed": 0, "total": 2}
    assert world.holds("Created") and world.holds("Reconciling")
    assert not world.holds("Ready")
    assert world.events == [("Normal", "WorkersCreated", "created 2 workers (attempt 1)")]


def test_nothing_changes_without_news(world_factory):
    world = world_factory()
    world.reconcile()
    result = world.reconcile()
    assert result.status is None and result.events == () and result.create == ()


def test_created_to_running_to_succeeded(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods(running=1)
    world.reconcile()
    assert world.phase == "Created"
    assert world.condition("Ready")["message"] == "created 2 workers (attempt 1)"
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"
    assert world.holds("Running") and world.holds("Reconciling")
    assert world.status["startTime"] == world.job["status"]["startTime"]
    running_since = world.condition("Running")["lastTransitionTime"]
    world.reconcile(seconds=60)
    assert world.condition("Running")["lastTransitionTime"] == running_since
    world.complete()
    world.reconcile()
    assert world.phase == "Succeeded"
    assert world.status["completionTime"] == world.job["status"]["completionTime"]
    assert world.holds("Succeeded") and world.holds("Ready")
    assert not world.holds("Running") and not world.holds("Reconciling") and not world.holds("Stalled")
    assert world.condition("Running")["reason"] == "Completed"
    assert world.events[-1] == ("Normal", "Completed", "all 2 workers finished successfully")


def test_a_worker_that_succeeded_before_the_job_counted_it_still_counts_as_done(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.pod(1)["status"] = {"phase": "Succeeded", "containerStatuses": []}  # the Job has not seen it yet
    result = world.reconcile()
    assert world.phase == "Running"
    assert result.events == (), "no detour through WorkersStarting"


def test_early_stopped_and_stopped_on_request(world_factory):
    world = world_factory()
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.report(
        earlyStopping={"triggered": True, "reason": "NoImprovement", "message": "no improvement in 3 epochs"}
    )
    world.complete()
    world.reconcile()
    early = world.condition("EarlyStopped")
    assert (early["status"], early["reason"], early["message"]) == (
        "True",
        "NoImprovement",
        "no improvement in 3 epochs",
    )
    assert world.condition("Succeeded")["reason"] == "EarlyStopped"

    other = world_factory()
    other.reconcile()
    other.start_pods()
    other.report(stoppedOnRequest=True)
    other.complete()
    other.reconcile()
    assert other.condition("Succeeded")["reason"] == "StoppedOnRequest"
    assert other.condition("EarlyStopped") is None


def test_reporter_fields_are_not_written_while_no_worker_left_a_final_status(world_factory):
    world = world_factory(numNodes=2, runPolicy={"backoffLimit": 1})
    world.reconcile()
    world.start_pods()
    world.report(progress={"epoch": 2}, metrics={"loss": 0.5}, checkpoint={"path": "/c"}, earlyStopping={})
    patches = [world.reconcile().status]
    world.fail_worker(1)
    patches.append(world.reconcile().status)
    world.finish_job_deletion()
    patches.append(world.reconcile().status)
    owned = {
        "phase",
        "conditions",
        "observedGeneration",
        "startTime",
        "completionTime",
        "restarts",
        "workers",
        "failure",
    }
    for patch in patches:
        assert set(patch or {}) <= owned
    assert world.status["progress"] == {"epoch": 2}


FINAL = {
    "progress": {"epoch": 10, "totalEpochs": 40},
    "metrics": {"loss": 0.1, "best": 0.09, "bestEpoch": 8},
    "earlyStopping": {"triggered": True, "reason": "EarlyStopping", "message": "no improvement in 2 epochs"},
}


def test_the_final_status_rank_0_left_lands_when_its_last_status_write_did_not(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.report(progress={"epoch": 9, "totalEpochs": 40}, earlyStopping={"triggered": False, "wait": 1})
    rank1 = encode_final_status({"progress": {"epoch": 99}})  # only rank 0 speaks for the job
    world.complete(messages={0: encode_final_status(FINAL), 1: rank1})
    result = world.reconcile()
    assert result.status is not None
    assert {key: result.status[key] for key in FINAL} == FINAL
    assert world.status["progress"] == {"epoch": 10, "totalEpochs": 40}
    assert world.status["earlyStopping"]["wait"] == 1, "merged into what landed, as the reporter's patch"
    assert world.condition("Succeeded")["reason"] == "EarlyStopped"
    assert world.condition("EarlyStopped")["message"] == "no improvement in 2 epochs"
    assert world.events[-1][1] == "EarlyStopped"


def test_a_final_status_that_landed_is_not_written_again(world_factory):
    world = world_factory()
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.report(**FINAL)
    world.complete(messages={0: encode_final_status(FINAL)})
    result = world.reconcile()
    assert result.status is not None and not set(result.status) & set(REPORTER_FIELDS)
    assert world.condition("Succeeded")["reason"] == "EarlyStopped"


def test_a_failed_group_lands_the_final_status_before_it_restarts(world_factory):
    world = world_factory(numNodes=2, runPolicy={"backoffLimit": 1})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.fail_worker(0, message=encode_final_status({"checkpoint": {"saveError": "disk full"}}))
    world.reconcile()
    assert world.phase == "Restarting"
    assert world.status["checkpoint"] == {"saveError": "disk full"}
    message = "worker 0 (pod mnist-0-a0) exited with code 1 (Error)"  # the final status is no death rattle
    assert world.status["failure"]["message"] == message
    assert world.condition("Restarting")["message"].startswith(f"{message}; restarting")


def test_a_failed_worker_fails_the_job_without_restarts(world_factory):
    world = world_factory(numNodes=3)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.fail_worker(2, exit_code=137, reason="OOMKilled")
    result = world.reconcile()
    assert world.phase == "Failed"
    failed = world.condition("Failed")
    assert failed["reason"] == "WorkerFailed"
    assert failed["message"] == "worker 2 (pod mnist-2-a0) exited with code 137 (OOMKilled)"
    assert world.status["failure"] == {
        "worker": 2,
        "pod": "mnist-2-a0",
        "exitCode": 137,
        "reason": "OOMKilled",
        "message": failed["message"],
    }
    assert world.holds("Stalled") and not world.holds("Ready") and not world.holds("Reconciling")
    assert world.events[-1] == ("Warning", "WorkerFailed", failed["message"])
    assert result.delete_job is None
    assert world.status["completionTime"]


def test_failed_workers_the_job_has_not_counted_yet_are_counted(world_factory):
    # The Job controller may set FailureTarget while the failed pods are still "uncounted".
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.fail_worker(1, exit_code=137)
    uncounted = {"failed": ["uid-1", "uid-0"], "succeeded": []}
    world.job["status"] = {**world.job["status"], "failed": 0, "uncountedTerminatedPods": uncounted}
    world.reconcile()
    assert world.phase == "Failed"
    assert world.status["workers"] == {"active": 0, "succeeded": 0, "failed": 2, "total": 2}


def test_group_restart_counts_waits_for_deletion_and_reuses_the_name(world_factory):
    world = world_factory(numNodes=2, runPolicy={"backoffLimit": 2})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    started = world.status["startTime"]
    world.fail_worker(0, exit_code=1, reason="Error", message="CUDA error")
    result = world.reconcile()
    assert world.phase == "Restarting"
    assert world.status["restarts"] == 1
    assert result.delete_job == FOREGROUND
    assert world.condition("Restarting")["message"] == (
        "worker 0 (pod mnist-0-a0) exited with code 1 (Error): CUDA error; "
        "restarting all workers (1 of 2 restarts)"
    )
    assert world.events[-1][:2] == ("Warning", "WorkerFailed")
    # the Job is still being deleted: nothing is created, nothing counted twice
    for _ in range(3):
        assert world.reconcile().create == ()
    assert world.status["restarts"] == 1
    world.finish_job_deletion()
    result = world.reconcile()
    job = result.create[-1]
    assert job["metadata"]["name"] == "mnist"
    assert job["metadata"]["labels"]["trainjob.dev/attempt"] == "1"
    assert world.phase == "Created"
    assert world.condition("Restarting")["status"] == "False"
    assert world.condition("Restarting")["reason"] == "Restarted"
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"
    assert world.status["startTime"] == started, "the start (and the deadline) spans restarts"
    assert world.status["failure"]["worker"] == 0, "the last failure stays readable"


def test_restart_budget_is_spent_then_failed(world_factory):
    world = world_factory(numNodes=2, runPolicy={"backoffLimit": 1})
    world.reconcile()
    world.start_pods()
    world.fail_worker(1)
    world.reconcile()
    world.finish_job_deletion()
    world.reconcile()
    world.start_pods()
    world.fail_worker(0, exit_code=2)
    world.reconcile()
    assert world.phase == "Failed"
    assert world.status["restarts"] == 1
    assert world.condition("Failed")["reason"] == "BackoffLimitExceeded"
    assert world.condition("Failed")["message"].endswith("all 1 restarts used")
    assert world.status["failure"]["exitCode"] == 2


def test_a_finished_job_never_recreates_or_counts_when_children_vanish(world_factory):
    world = world_factory(runPolicy={"backoffLimit": 3})
    world.reconcile()
    world.start_pods()
    world.complete()
    world.reconcile()
    world.finish_job_deletion()
    for _ in range(3):
        result = world.reconcile()
        assert result.create == () and result.status is None and result.delete_job is None
    assert world.phase == "Succeeded" and world.status["restarts"] == 0


def test_a_spec_edited_after_the_end_is_only_recorded_as_observed(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.complete()
    world.reconcile()
    assert world.phase == "Succeeded" and world.status["observedGeneration"] == 1
    world.edit_spec(numNodes=4)
    result = world.reconcile()
    assert result.status == {"observedGeneration": 2}
    assert result.create == () and result.events == () and world.phase == "Succeeded"
    assert world.reconcile().status is None, "recorded once"


def test_a_deleted_job_counts_as_a_failure(world_factory):
    world = world_factory(runPolicy={"backoffLimit": 1})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.finish_job_deletion()
    world.reconcile()
    assert world.phase == "Restarting"
    assert world.status["failure"]["reason"] == "JobDeleted"
    world.reconcile()
    assert world.phase == "Created"
    world.finish_job_deletion()
    world.reconcile()
    assert world.phase == "Failed"
    assert world.status["restarts"] == 1


def test_the_first_failure_is_the_cause_not_the_killed_peers(world_factory):
    world = world_factory(numNodes=4)
    world.reconcile()
    world.start_pods()
    world.fail_worker(3, exit_code=139, reason="Error")
    world.reconcile()
    assert world.status["failure"]["worker"] == 3


def test_job_failure_without_pods_uses_the_jobs_reason(world_factory):
    world = world_factory()
    world.reconcile()
    world.job_fails("PodFailurePolicy", "container failed")
    world.reconcile()
    assert world.condition("Failed")["message"] == "the workers failed: PodFailurePolicy: container failed"


def test_stuck_workers_are_reported_while_waiting(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods(running=1, reason="ImagePullBackOff", message='Back-off pulling image "x"')
    world.reconcile()
    assert world.phase == "Created"
    ready = world.condition("Ready")
    assert ready["reason"] == "ImagePullBackOff"
    assert (
        ready["message"]
        == 'worker 1 (pod mnist-1-a0) cannot start: ImagePullBackOff: Back-off pulling image "x"'
    )
    assert world.events[-1][:2] == ("Warning", "ImagePullBackOff")
    world.start_pods(running=1)  # the image arrives for worker 1 but it is not running yet
    world.reconcile()
    assert (world.condition("Ready")["reason"], world.condition("Ready")["message"]) == (
        "WorkersStarting",
        "1 of 2 workers running",
    )


def test_unschedulable_workers_are_reported(world_factory):
    world = world_factory()
    world.reconcile()
    world.start_pods(running=0)
    world.pods[0]["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes: no GPU"}
    ]
    world.reconcile()
    assert (
        world.condition("Ready")["message"]
        == "worker 0 (pod mnist-0-a0) cannot start: Unschedulable: 0/3 nodes: no GPU"
    )


FORBIDDEN = (
    'Error creating: pods "mnist-0-x7k2p" is forbidden: violates PodSecurity "restricted:latest": '
    'privileged (container "worker" must not set securityContext.privileged=true)'
)


def test_pods_forbidden_by_pod_security_fail_the_job_and_stop_the_job_controller(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.failed_create = FORBIDDEN
    result = world.reconcile()
    assert world.phase == "Failed" and result.delete_job == BACKGROUND and world.job is None
    failed = world.condition("Failed")
    assert failed["reason"] == "PodSecurityViolation"
    assert failed["message"] == (
        'the workers cannot start: PodSecurityViolation: pods "mnist-0-x7k2p" is forbidden: violates '
        'PodSecurity "restricted:latest": privileged (container "worker" must not set '
        "securityContext.privileged=true); change the spec and create the TrainJob again"
    )
    assert world.status["failure"]["reason"] == "PodSecurityViolation"
    assert world.holds("Stalled") and world.events[-1][:2] == ("Warning", "PodSecurityViolation")
    assert world.reconcile() == Plan(), "a failed job is left alone"


def test_other_pod_creation_errors_are_reported_while_waiting(world_factory):
    world = world_factory()
    world.reconcile()
    world.failed_create = 'Error creating: pods "mnist-0-x" is forbidden: exceeded quota: compute'
    world.reconcile()
    assert world.phase == "Created"
    ready = world.condition("Ready")
    assert (ready["reason"], ready["message"]) == (
        "FailedCreate",
        'the workers cannot start: FailedCreate: pods "mnist-0-x" is forbidden: exceeded quota: compute',
    )
    world.failed_create = None
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"


def test_pod_creation_errors_matter_only_while_the_current_job_lacks_pods(world_factory):
    world = world_factory(numNodes=2)
    assert not awaits_pods(None, [], attempt=0, nodes=2)
    world.reconcile()
    assert awaits_pods(world.job, world.pods, attempt=0, nodes=2)
    assert not awaits_pods(world.job, world.pods, attempt=1, nodes=2), "a stale Job"
    world.start_pods(running=0)
    assert not awaits_pods(world.job, world.pods, attempt=0, nodes=2)
    world.suspend_job(True)
    assert not awaits_pods(world.job, world.pods, attempt=0, nodes=2)
    world.suspend_job(False)
    world.job_fails("DeadlineExceeded")
    assert not awaits_pods(world.job, world.pods, attempt=0, nodes=2)


def test_deadline_exceeded_by_the_job(world_factory):
    world = world_factory(runPolicy={"activeDeadlineSeconds": 100, "backoffLimit": 5})
    result = world.reconcile()
    assert result.create[-1]["spec"]["activeDeadlineSeconds"] == 100
    world.start_pods()
    world.reconcile()
    world.job_fails("DeadlineExceeded", "Job was active longer than specified deadline")
    world.reconcile()
    assert world.phase == "Failed"
    assert world.condition("Failed")["reason"] == "DeadlineExceeded"
    assert world.status["restarts"] == 0, "a deadline is not retried"


def test_deadline_enforced_by_the_operator_across_restarts(world_factory):
    world = world_factory(runPolicy={"activeDeadlineSeconds": 100, "backoffLimit": 5})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.fail_worker(0)
    world.reconcile(seconds=30)
    world.finish_job_deletion()
    result = world.reconcile(seconds=30)
    assert 35 <= result.create[-1]["spec"]["activeDeadlineSeconds"] <= 40, "what is left of the deadline"
    result = world.reconcile(seconds=100)
    assert world.phase == "Failed"
    assert world.condition("Failed")["reason"] == "DeadlineExceeded"
    assert result.delete_job == BACKGROUND
    assert world.status["failure"]["reason"] == "DeadlineExceeded"


def test_remaining_deadline():
    policy = {"activeDeadlineSeconds": 60}
    now = datetime.datetime(2024, 5, 1, 12, 0, 30, tzinfo=datetime.UTC)
    assert remaining_deadline(policy, None, now) == 60
    assert remaining_deadline(policy, "2024-05-01T12:00:00Z", now) == 30
    assert remaining_deadline(policy, "2024-05-01T11:00:00Z", now) == 1
    assert remaining_deadline({}, None, now) is None


def test_suspend_and_resume(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods()
    world.reconcile()
    assert world.status["startTime"]
    world.edit_spec(runPolicy={"suspend": True})
    result = world.reconcile()
    assert result.patch_job == {
        "metadata": {"annotations": {"trainjob.dev/suspend": "true"}},
        "spec": {"suspend": True},
    }
    world.suspend_job(True)
    world.reconcile()
    assert world.phase == "Suspended"
    assert world.holds("Suspended") and not world.holds("Running") and not world.holds("Reconciling")
    assert world.condition("Ready") is None, "held: settled for kstatus (see conditions.py)"
    assert "startTime" not in world.status, "cleared: the deadline restarts, the spec may change"
    assert world.status["observedGeneration"] == 2
    assert world.reconcile().patch_job is None, "applied once"
    world.edit_spec(runPolicy={"suspend": False})
    result = world.reconcile()
    assert result.patch_job["spec"] == {"suspend": False}
    assert world.condition("Reconciling")["reason"] == "Resuming" and world.holds("Reconciling")
    assert world.condition("Ready")["status"] == "False", "back as soon as the job moves on"
    world.suspend_job(False)
    world.start_pods()
    world.reconcile()
    assert world.phase == "Running"
    assert world.condition("Suspended")["status"] == "False"
    assert world.status["startTime"]


def test_created_suspended(world_factory):
    world = world_factory(runPolicy={"suspend": True})
    result = world.reconcile()
    assert result.create[-1]["spec"]["suspend"] is True
    world.reconcile()
    assert world.phase == "Suspended"
    reconciling = world.condition("Reconciling")
    assert (reconciling["status"], reconciling["reason"], reconciling["message"]) == (
        "False",
        "Suspended",
        "suspended by runPolicy.suspend",
    )
    assert world.condition("Ready") is None


def test_kueue_owns_suspension(world_factory):
    world = world_factory(labels={"kueue.x-k8s.io/queue-name": "gpus"})
    result = world.reconcile()
    job = result.create[-1]
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpus"
    world.reconcile()
    assert world.phase == "Suspended"
    assert world.condition("Ready")["reason"] == "Queued"
    assert world.holds("Reconciling"), "queued: admitted without anyone acting, so in progress"
    assert world.condition("Reconciling")["message"] == "waiting for the queue 'gpus' to admit the workers"
    world.queue = QueueVerdict(Reason.QUEUED, "Pending: couldn't assign flavors to pod set main")
    world.reconcile()
    assert world.condition("Suspended")["message"] == (
        "waiting for the queue 'gpus' to admit the workers; "
        "Kueue: Pending: couldn't assign flavors to pod set main"
    )
    world.queue = None
    world.suspend_job(False)  # Kueue admits the workload
    world.start_pods()
    assert world.reconcile().patch_job is None, "the operator does not fight Kueue"
    assert world.phase == "Running"
    world.suspend_job(True)  # Kueue preempts
    world.queue = QueueVerdict(Reason.PREEMPTED, "Preempted: Preempted to accommodate a workload")
    assert world.reconcile().patch_job is None
    assert world.phase == "Suspended"
    assert world.condition("Reconciling")["reason"] == "Preempted"
    assert world.holds("Reconciling"), "preempted: resumed by the queue, so in progress"
    assert world.condition("Reconciling")["message"].startswith("preempted by Kueue (Preempted: Preempted to")
    assert world.status["restarts"] == 0, "a preemption spends no restart"


def test_spec_change_before_start_recreates_the_job(world_factory):
    world = world_factory(numNodes=2)
    world.reconcile()
    world.start_pods(running=0, reason="ErrImagePull")
    world.reconcile()
    world.edit_spec(image="example.com/train:fixed")
    result = world.reconcile()
    assert result.delete_job == FOREGROUND
    assert world.phase == "Pending"
    assert world.condition("Ready")["reason"] == "SpecChanged"
    assert world.status["restarts"] == 0
    world.finish_job_deletion()
    result = world.reconcile()
    assert (
        result.create[-1]["spec"]["template"]["spec"]["containers"][0]["image"] == "example.com/train:fixed"
    )
    assert world.phase == "Created"


def test_spec_change_after_start_waits_for_the_next_attempt(world_factory):
    world = world_factory()
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.edit_spec(env=[{"name": "A", "value": "1"}])
    result = world.reconcile()
    assert result.delete_job is None
    assert world.phase == "Running"


def test_a_stale_job_of_an_earlier_attempt_is_deleted(world_factory):
    world = world_factory(runPolicy={"backoffLimit": 2})
    world.reconcile()
    world.start_pods()
    world.report(restarts=1, phase="Restarting")  # the operator crashed after counting the restart
    result = world.reconcile()
    assert result.delete_job == FOREGROUND
    assert world.phase == "Restarting"
    assert world.status["restarts"] == 1


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("None", []), ("Running", ["mnist-1-a0"]), ("All", ["mnist-0-a0", "mnist-1-a0"])],
)
def test_clean_pod_policy(world_factory, policy, expected):
    world = world_factory(numNodes=2, runPolicy={"cleanPodPolicy": policy})
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.complete()
    world.pods[1]["status"]["phase"] = "Running"  # a straggler
    world.reconcile()
    assert world.phase == "Succeeded"
    world.reconcile()
    assert world.deleted_pods == expected


def test_ttl_after_finished(world_factory):
    world = world_factory(runPolicy={"ttlSecondsAfterFinished": 60})
    world.reconcile()
    world.start_pods()
    world.complete()
    world.reconcile()
    assert not world.reconcile(seconds=30).delete_trainjob
    assert world.reconcile(seconds=31).delete_trainjob


def test_without_ttl_the_trainjob_stays(world_factory):
    world = world_factory()
    world.reconcile()
    world.job_fails("BackoffLimitExceeded")
    world.reconcile()
    assert not world.reconcile(seconds=10**6).delete_trainjob


def test_failed_to_create(trainjob_factory):
    now = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    message = 'the apiserver rejected the Job: spec.template.spec.volumes[0]: Invalid value: "x"'
    result = failed_to_create(trainjob_factory(), Reason.INVALID_WORKERS, message, now)
    assert result.status["phase"] == "Failed"
    assert result.status["failure"]["reason"] == "InvalidWorkers"
    conditions = {condition["type"]: condition for condition in result.status["conditions"]}
    assert "Created" not in conditions
    assert (
        conditions["Failed"]["message"]
        == 'the apiserver rejected the Job: spec.template.spec.volumes[0]: Invalid value: "x"'
    )
    assert result.events[0].type == "Warning"


def test_conditions_carry_the_generation(world_factory):
    world = world_factory()
    world.reconcile()
    world.start_pods()
    world.reconcile()
    world.edit_spec(maxEpochs=10)
    world.reconcile()
    assert world.condition("Ready")["observedGeneration"] == 2
    assert world.condition("Created")["observedGeneration"] == 1, "set once, for the generation it saw"
    assert world.status["observedGeneration"] == 2


def test_plan_takes_undefaulted_objects():
    trainjob = {
        "metadata": {"name": "a", "namespace": "n", "uid": "u"},
        "spec": {"image": "i", "command": ["c"], "maxEpochs": 1},
    }
    result = plan(trainjob, None, [], datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))
    assert result.status["phase"] == "Created"


def test_a_job_of_someone_else_is_never_touched(world_factory):
    world = world_factory()
    world.reconcile()
    world.job["metadata"]["ownerReferences"] = [
        {"kind": "CronJob", "name": "x", "uid": "other", "controller": True}
    ]
    result = world.reconcile()
    assert result.delete_job is None and result.patch_job is None and result.create == ()
    assert world.phase == "Pending"
    assert world.condition("Ready")["reason"] == "JobNameTaken"
    world.finish_job_deletion()
    assert world.reconcile().create, "created once the name is free"


def test_cleanup_comes_with_the_final_transition(world_factory):
    world = world_factory(numNodes=2, runPolicy={"cleanPodPolicy": "All", "ttlSecondsAfterFinished": 0})
    world.reconcile()
    world.start_pods()
    world.fail_worker(0)
    result = world.reconcile()
    assert result.status["phase"] == "Failed"
    assert sorted(result.delete_pods) == ["mnist-0-a0", "mnist-1-a0"]
    assert result.delete_trainjob, "a TTL of 0 deletes the TrainJob at once"
