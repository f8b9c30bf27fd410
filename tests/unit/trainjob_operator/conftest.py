"""A tiny simulated cluster for planner tests: the apiserver's merge patches plus a Job controller's moves."""

import copy
import datetime
from typing import Any

import pytest

from trainjob_api.defaulting import apply_defaults
from trainjob_api.names import COMPLETION_INDEX, LABEL_ATTEMPT, LABEL_NAME
from trainjob_operator.planner import FOREGROUND, Plan, plan
from trainjob_operator.status.queue import QueueVerdict
from trainjob_operator.timing import timestamp

T0 = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)


def make_trainjob(name: str = "mnist", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body = {"image": "example.com/train:1", "command": ["python", "train.py"], "maxEpochs": 3, **spec}
    metadata = {"name": name, "namespace": "ml", "uid": "uid-1", "generation": 1, "labels": labels or {}}
    return apply_defaults(
        {"apiVersion": "trainjob.dev/v1alpha1", "kind": "TrainJob", "metadata": metadata, "spec": body}
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def pod_status(phase: str, **container_state: Any) -> dict[str, Any]:
    statuses = [{"name": "worker", "state": container_state}] if container_state else []
    return {"phase": phase, "containerStatuses": statuses}


class World:
    """One TrainJob, its Job and pods; `reconcile()` plans and applies like the operator would."""

    def __init__(self, trainjob: dict[str, Any]) -> None:
        self.trainjob = trainjob
        self.job: dict[str, Any] | None = None
        self.pods: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self.deleted_pods: list[str] = []
        self.trainjob_deleted = False
        self.now = T0
        #: The message of the Job controller's latest FailedCreate Event, while pods are missing.
        self.failed_create: str | None = None
        #: What Kueue's Workload says of the suspended Job, if anything.
        self.queue: QueueVerdict | None = None

    # --- the operator ---------------------------------------------------------------------------
    def reconcile(self, seconds: float = 1) -> Plan:
        self.now += datetime.timedelta(seconds=seconds)
        result = plan(self.trainjob, self.job, self.pods, self.now, self.failed_create, self.queue)
        self.apply(result)
        return result

    def apply(self, result: Plan) -> None:
        for child in result.create:
            self.created.append(child)
            if child["kind"] == "Job":
                assert self.job is None, "a Job already exists"
                self.job = copy.deepcopy(child) | {"status": {}}
        if result.status:
            status = merge_patch(self.trainjob.get("status") or {}, result.status)
            self.trainjob = {**self.trainjob, "status": status}
        self.events += [(event.type, event.reason, event.message) for event in result.events]
        if result.delete_job and self.job is not None:
            self.job["metadata"]["deletionTimestamp"] = timestamp(self.now)
            if result.delete_job != FOREGROUND:
                self.finish_job_deletion()
        if result.patch_job and self.job is not None:
            self.job = merge_patch(self.job, result.patch_job)
        self.deleted_pods += result.delete_pods
        self.pods = [pod for pod in self.pods if pod["metadata"]["name"] not in result.delete_pods]
        self.trainjob_deleted |= result.delete_trainjob

    # --- the user ---------------------------------------------------------------------------------
    def edit_spec(self, **changes: Any) -> None:
        spec = merge_patch(self.trainjob["spec"], changes)
        metadata = {**self.trainjob["metadata"], "generation": self.trainjob["metadata"]["generation"] + 1}
        self.trainjob = {**self.trainjob, "metadata": metadata, "spec": spec}

    def report(self, **fields: Any) -> None:
        """The in-pod reporter's merge patch."""
        self.trainjob = {**self.trainjob, "status": merge_patch(self.trainjob.get("status") or {}, fields)}

    # --- the Job controller and kubelet -----------------------------------------------------------
    @property
    def attempt(self) -> str:
        assert self.job is not None
        return self.job["metadata"]["labels"][LABEL_ATTEMPT]

    def start_pods(self, running: int | None = None, **waiting: Any) -> None:
        """Create the pods of the Job; `running` of them run, the others wait (optionally `waiting`)."""
        assert self.job is not None
        nodes = self.job["spec"]["completions"]
        running = nodes if running is None else running
        self.job["status"] = {"active": nodes, "startTime": timestamp(self.now)}
        self.pods = [pod for pod in self.pods if pod["metadata"]["labels"][LABEL_ATTEMPT] != self.attempt]
        for index in range(nodes):
            name = f"{self.job['metadata']['name']}-{index}-a{self.attempt}"
            labels = {LABEL_NAME: "mnist", LABEL_ATTEMPT: self.attempt, COMPLETION_INDEX: str(index)}
            state = {"running": {}} if index < running else ({"waiting": waiting} if waiting else {})
            phase = "Running" if index < running else "Pending"
            self.pods.append(
                {"metadata": {"name": name, "labels": labels}, "status": pod_status(phase, **state)}
            )

    def pod(self, index: int) -> dict[str, Any]:
        return next(pod for pod in self.pods if pod["metadata"]["labels"][COMPLETION_INDEX] == str(index)
                    and pod["metadata"]["labels"][LABEL_ATTEMPT] == self.attempt)  # fmt: skip

    def fail_worker(self, index: int, exit_code: int = 1, reason: str = "Error", message: str = "") -> None:
        """Worker `index` exits non-zero; the Job (backoffLimit 0) fails and stops the others (exit 143)."""
        assert self.job is not None
        finished = timestamp(self.now)
        terminated = {"exitCode": exit_code, "reason": reason, "message": message, "finishedAt": finished}
        self.pod(index)["status"] = pod_status("Failed", terminated=terminated)
        later = timestamp(self.now + datetime.timedelta(seconds=5))
        for pod in self.pods:
            if (
                pod["metadata"]["labels"][LABEL_ATTEMPT] == self.attempt
                and pod["status"]["phase"] == "Running"
            ):
                killed = {"exitCode": 143, "reason": "Error", "finishedAt": later}
                pod["status"] = pod_status("Failed", terminated=killed)
        condition = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                     "message": "Job has reached the specified backoff limit"}  # fmt: skip
        self.job["status"] = {**self.job["status"], "active": 0, "failed": 1, "conditions": [condition]}

    def job_fails(self, reason: str, message: str = "") -> None:
        assert self.job is not None
        condition = {"type": "Failed", "status": "True", "reason": reason, "message": message}
        self.job["status"] = {**self.job["status"], "active": 0, "conditions": [condition]}

    def complete(self, messages: dict[int, str] | None = None) -> None:
        """Every worker exits 0; `messages` are the termination messages some of them left, by index."""
        assert self.job is not None
        for pod in self.pods:
            if pod["metadata"]["labels"][LABEL_ATTEMPT] == self.attempt:
                terminated = {"exitCode": 0, "reason": "Completed", "finishedAt": timestamp(self.now)}
                message = (messages or {}).get(int(pod["metadata"]["labels"][COMPLETION_INDEX]))
                pod["status"] = pod_status(
                    "Succeeded", terminated=terminated | ({"message": message} if message else {})
                )
        nodes = self.job["spec"]["completions"]
        conditions = [{"type": "Complete", "status": "True"}]
        self.job["status"] = {**self.job["status"], "active": 0, "succeeded": nodes,
                              "completionTime": timestamp(self.now), "conditions": conditions}  # fmt: skip

    def suspend_job(self, suspended: bool) -> None:
        """The Job is suspended (its pods deleted) or resumed, by the operator's patch or by Kueue."""
        assert self.job is not None
        self.job["spec"]["suspend"] = suspended
        if suspended:
            self.pods = []
            self.job["status"] = {"active": 0}

    def finish_job_deletion(self) -> None:
        """The garbage collector removes the Job and its pods."""
        self.job = None
        self.pods = []

    # --- reading -----------------------------------------------------------------------------------
    @property
    def status(self) -> dict[str, Any]:
        return self.trainjob.get("status") or {}

    @property
    def phase(self) -> str | None:
        return self.status.get("phase")

    def condition(self, type_: str) -> dict[str, Any] | None:
        return next((c for c in self.status.get("conditions", []) if c["type"] == type_), None)

    def holds(self, type_: str) -> bool:
        condition = self.condition(type_)
        return condition is not None and condition["status"] == "True"


@pytest.fixture
def trainjob_factory():
    return make_trainjob


@pytest.fixture
def world_factory():
    def build(**spec: Any) -> World:
        labels = spec.pop("labels", None)
        return World(make_trainjob(labels=labels, **spec))

    return build
