"""What a converged namespace looks like after faults: every TrainJob's children exist exactly once,
and no transition was announced twice."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.cluster import ControlPlane
from tests.e2e.support import FINAL_PHASES, TRAINJOBS, worker_pods
from trainjob_api.names import KIND, LABEL_ATTEMPT, LABEL_MANAGED_BY, MANAGER

#: The command of workers that succeed at once, for TrainJobs whose training does not matter.
QUICK = ["python", "-c", "print('trained')"]
#: The label selector of the operator's children.
MANAGED = f"{LABEL_MANAGED_BY}={MANAGER}"
#: Where each kind of child of a TrainJob is listed.
CHILDREN = {
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "Job": "/apis/batch/v1/namespaces/{namespace}/jobs",
}


def trainjobs(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """Every TrainJob of the namespace."""
    return cp.admin.get(TRAINJOBS.format(namespace=namespace))["items"]


def children_by_owner(cp: ControlPlane, namespace: str) -> dict[str, list[str]]:
    """The kinds of the operator's children (one entry per object), by the uid of their TrainJob."""
    owned: dict[str, list[str]] = {}
    for kind, path in CHILDREN.items():
        items = cp.admin.get(path.format(namespace=namespace), labelSelector=MANAGED)
        for item in items["items"]:
            for reference in item["metadata"].get("ownerReferences") or []:
                if reference.get("controller"):
                    owned.setdefault(reference["uid"], []).append(kind)
    return {uid: sorted(kinds) for uid, kinds in owned.items()}


def children_count(cp: ControlPlane, namespace: str) -> int:
    """How many children the operator created so far, all TrainJobs together."""
    return sum(len(kinds) for kinds in children_by_owner(cp, namespace).values())


def finished(cp: ControlPlane, namespace: str) -> set[str]:
    """The names of the TrainJobs that have finished."""
    jobs = trainjobs(cp, namespace)
    return {job["metadata"]["name"] for job in jobs if (job.get("status") or {}).get("phase") in FINAL_PHASES}


def all_finished(cp: ControlPlane, namespace: str, count: int) -> bool:
    """Whether `count` TrainJobs exist and every one has finished."""
    return len(trainjobs(cp, namespace)) == count == len(finished(cp, namespace))


def assert_children_exist_once(cp: ControlPlane, namespace: str) -> None:
    """Every TrainJob has exactly one child of each kind, and there is no child of anything else."""
    expected = {job["metadata"]["uid"]: sorted(CHILDREN) for job in trainjobs(cp, namespace)}
    assert children_by_owner(cp, namespace) == expected


def trainjob_events(cp: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    """The Events the operator posted on TrainJobs."""
    events = cp.admin.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    return [event for event in events if event["involvedObject"].get("kind") == KIND]


def event_counts(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """How often each (TrainJob, reason) was announced (the apiserver counts exact repeats in `count`)."""
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        counts[(event["involvedObject"]["name"], event["reason"])] += int(event.get("count") or 1)
    return counts


def assert_all_succeeded_once(cp: ControlPlane, namespace: str, count: int) -> None:
    """`count` TrainJobs all succeeded on their first attempt, each child exactly once, no Event twice.

    (An Event can be lost: one whose transition was written just before a crash.)
    """
    jobs = trainjobs(cp, namespace)
    assert len(jobs) == count
    for job in jobs:
        status = job["status"]
        assert (status["phase"], status["restarts"]) == ("Succeeded", 0), (job["metadata"]["name"], status)
    assert_children_exist_once(cp, namespace)
    for job in jobs:
        attempts = {
            pod["metadata"]["labels"][LABEL_ATTEMPT]
            for pod in worker_pods(cp, namespace, job["metadata"]["name"])
        }
        assert attempts == {"0"}, (job["metadata"]["name"], attempts)
    events = trainjob_events(cp, namespace)
    counts = event_counts(events)
    assert all(times == 1 for times in counts.values()), f"a transition was announced twice: {counts}"
    assert [event for event in events if event["type"] == "Warning"] == []
