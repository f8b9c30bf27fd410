"""Gang scheduling on the real control plane, by kube-scheduler's own gang scheduling (feature gates
GenericWorkload and GangScheduling, on in the test control plane).

A node of 4 CPUs and two TrainJobs of 3 workers x 1 CPU, whose workers block until all of their
group met (tests/workers/rendezvous.py). Both arrive as they would on a busy cluster: job A while
2 CPUs are taken (by a "blocker" pod), job B (of a higher priority; neither preempts) just
before those 2 CPUs are freed. Without gang scheduling, A takes the 2 free CPUs, B the 2 freed
ones: both are half placed and wait for each other for ever. With `podGroupPolicy: {native: {}}`
neither is placed half: B (first by priority) runs whole, A waits without holding a CPU, and
runs whole once B finished.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    kubectl_apply,
    wait_for_status,
    wait_until,
    worker_manifest,
    worker_pods,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE = "gang-node"
NODE_LABEL = {"trainjob.dev/gang-node": "true"}
PRIORITY_CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"
#: (name, value): B comes first in the scheduling queue; neither evicts anything (the blocker included).
PRIORITIES = [("gang-low", 10), ("gang-high", 20)]
WORKERS = 3


@pytest.fixture(scope="module")
def small_node(control_plane: ControlPlane) -> Iterator[TestNode]:
    """A node with 4 CPUs (and the priority classes of the two jobs)."""
    for name, value in PRIORITIES:
        body = {"metadata": {"name": name}, "value": value, "preemptionPolicy": "Never"}
        control_plane.admin.create(PRIORITY_CLASSES, body)
    capacity = {"cpu": "4", "memory": "8Gi", "pods": "110"}
    with TestNode(control_plane, NODE, labels=NODE_LABEL, capacity=capacity) as node:
        yield node
    for name, _ in PRIORITIES:
        control_plane.admin.delete(f"{PRIORITY_CLASSES}/{name}")


def trainjob(name: str, namespace: str, priority: str, gang: bool, hold: float) -> dict[str, Any]:
    """3 workers x 1 CPU on the small node, meeting before they hold for `hold` seconds."""
    spec: dict[str, Any] = {
        "numNodes": WORKERS,
        "resourcesPerNode": {"requests": {"cpu": "1"}},
        "podTemplate": {"nodeSelector": NODE_LABEL, "priorityClassName": priority},
        "args": ["--hold", str(hold)],
    }
    if gang:
        spec["podGroupPolicy"] = {"native": {}}
    command = ["python", "tests/workers/rendezvous.py"]
    return worker_manifest(name, namespace, command, **spec)


def blocker(namespace: str) -> dict[str, Any]:
    """A pod that takes 2 of the node's 4 CPUs until it is deleted."""
    container = {
        "name": "blocker",
        "image": "busybox",
        "command": ["python", "tests/workers/sleeper.py"],
        "resources": {"requests": {"cpu": "2"}},
    }
    spec = {"nodeSelector": NODE_LABEL, "containers": [container], "terminationGracePeriodSeconds": 1}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "blocker"}, "spec": spec}


def placed(cp: ControlPlane, namespace: str, name: str) -> int:
    """How many of a TrainJob's worker pods are bound to a node."""
    return sum(1 for pod in worker_pods(cp, namespace, name) if pod["spec"].get("nodeName"))


def unschedulable(cp: ControlPlane, namespace: str, name: str) -> int:
    """How many of a TrainJob's worker pods the scheduler found no place for."""
    return sum(
        1
        for pod in worker_pods(cp, namespace, name)
        for condition in pod.get("status", {}).get("conditions") or []
        if condition["type"] == "PodScheduled" and condition.get("reason") == "Unschedulable"
    )


def pod_states(cp: ControlPlane, namespace: str) -> str:
    """Every pod of the namespace: its node or why it has none (for failure messages)."""
    lines = []
    for pod in cp.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]:
        scheduled = [c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == "PodScheduled"]
        where = pod["spec"].get("nodeName") or (scheduled[0].get("message") if scheduled else "not tried")
        lines.append(f"{pod['metadata']['name']}: {pod.get('status', {}).get('phase')} {where}")
    return "the pods:\n" + "\n".join(lines)


def arrive_like_on_a_busy_cluster(
    cp: ControlPlane, namespace: str, tmp_path: Path, gang: bool
) -> tuple[str, str]:
    """Job A while 2 CPUs are taken, job B (higher priority) next; then the 2 CPUs are freed."""
    pods = f"/api/v1/namespaces/{namespace}/pods"
    cp.admin.create(pods, blocker(namespace))
    states = lambda: pod_states(cp, namespace)  # noqa: E731
    wait_until(lambda: cp.admin.get(f"{pods}/blocker")["spec"].get("nodeName"), states, timeout=30)
    kubectl_apply(cp, trainjob("a", namespace, "gang-low", gang, hold=0), tmp_path)
    wait_until(lambda: unschedulable(cp, namespace, "a") == (WORKERS if gang else 1), states, timeout=30)
    kubectl_apply(cp, trainjob("b", namespace, "gang-high", gang, hold=4), tmp_path)
    wait_until(lambda: unschedulable(cp, namespace, "b") == WORKERS, states, timeout=30)
    time.sleep(3)  # past the scheduler's back-off of every pod: the freed room goes by priority
    cp.admin.delete(f"{pods}/blocker")
    return "a", "b"


def test_without_gang_scheduling_two_half_placed_jobs_wait_for_each_other_for_ever(
    control_plane: ControlPlane,
    small_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    a, b = arrive_like_on_a_busy_cluster(cp, namespace, tmp_path, gang=False)
    wait_until(lambda: placed(cp, namespace, a) + placed(cp, namespace, b) == 4, "the 4 CPUs taken")
    time.sleep(5)  # the deadlock holds: nothing more is placed, nothing finishes
    assert (placed(cp, namespace, a), placed(cp, namespace, b)) == (2, 2)
    assert unschedulable(cp, namespace, a) == unschedulable(cp, namespace, b) == 1
    for name in (a, b):
        status = wait_for_status(cp, namespace, name, lambda s: s.get("phase") == "Created", timeout=10)
        assert status["workers"]["active"] == WORKERS, status
    running = [
        pod for name in (a, b) for pod in worker_pods(cp, namespace, name) if pod["spec"].get("nodeName")
    ]
    for pod in running:
        log = small_node.logs(namespace, pod["metadata"]["name"])
        assert "waiting for the others" in log and "met" not in log, log


def test_with_native_gang_scheduling_one_job_runs_whole_and_the_other_after_it(
    control_plane: ControlPlane,
    small_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    cp = control_plane
    a, b = arrive_like_on_a_busy_cluster(cp, namespace, tmp_path, gang=True)
    assert placed(cp, namespace, a) == 0, "no worker of A holds a CPU while its group cannot fit"
    groups = cp.admin.get(f"/apis/scheduling.k8s.io/v1alpha2/namespaces/{namespace}/podgroups")["items"]
    assert sorted(group["metadata"]["name"].split("-")[0] for group in groups) == [a, b]
    assert {group["spec"]["schedulingPolicy"]["gang"]["minCount"] for group in groups} == {WORKERS}

    status_b = wait_for_status(cp, namespace, b, lambda s: s.get("phase") == "Running", timeout=30)
    assert status_b["workers"]["active"] == WORKERS
    assert placed(cp, namespace, a) == 0, "A waits whole while B runs"
    assert unschedulable(cp, namespace, a) == WORKERS

    assert_succeeded(cp, namespace, wait_for_status(cp, namespace, b, timeout=60), small_node)
    assert_succeeded(cp, namespace, wait_for_status(cp, namespace, a, timeout=60), small_node)
    for name in (a, b):
        logs = [
            small_node.logs(namespace, pod["metadata"]["name"]) for pod in worker_pods(cp, namespace, name)
        ]
        assert all(f"all {WORKERS} workers met" in log for log in logs), logs
