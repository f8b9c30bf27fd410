"""Kueue for real: its controller and webhooks against the real control plane, TrainJobs queued by it.

A TrainJob is a Kueue workload through its batch Job (docs/platform.md): the operator creates the
Job suspended with the TrainJob's `kueue.x-k8s.io/*` labels, Kueue admits it by unsuspending it and
preempts it by suspending it again; the operator never writes `suspend` unless `runPolicy.suspend`
changes, so the two never fight over it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.cluster.kueue import Kueue
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    kubectl_apply,
    kubectl_apply_all,
    wait_for_status,
    with_host_directory,
    worker_manifest,
    worker_pods,
)

pytestmark = pytest.mark.e2e

QUEUE = "team"
#: Each worker asks for one CPU; the ClusterQueue has two: one 2-worker TrainJob at a time.
ONE_CPU = {"requests": {"cpu": "1", "memory": "256Mi"}}
KUEUE = "kueue.x-k8s.io/v1beta2"
EPOCH_LINE = re.compile(r"^epoch (\d+)/", re.MULTILINE)


@pytest.fixture(scope="module")
def kueue(control_plane: ControlPlane) -> Iterator[Kueue]:
    """Kueue's controller, running against the control plane for this module's tests."""
    with Kueue(control_plane) as running:
        yield running


@pytest.fixture
def queue(control_plane: ControlPlane, namespace: str, kueue: Kueue, tmp_path: Path) -> Iterator[str]:
    """A ClusterQueue of 2 CPUs that preempts by priority, its LocalQueue in `namespace`, two priorities."""
    cluster_queue = f"cq-{namespace}"
    objects: list[dict[str, Any]] = [
        {"apiVersion": KUEUE, "kind": "ResourceFlavor", "metadata": {"name": "default-flavor"}},
        {
            "apiVersion": KUEUE,
            "kind": "ClusterQueue",
            "metadata": {"name": cluster_queue},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "preemption": {"withinClusterQueue": "LowerPriority"},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu", "memory"],
                        "flavors": [
                            {
                                "name": "default-flavor",
                                "resources": [
                                    {"name": "cpu", "nominalQuota": "2"},
                                    {"name": "memory", "nominalQuota": "4Gi"},
                                ],
                            }
                        ],
                    }
                ],
            },
        },
        {
            "apiVersion": KUEUE,
            "kind": "LocalQueue",
            "metadata": {"name": QUEUE, "namespace": namespace},
            "spec": {"clusterQueue": cluster_queue},
        },
        *(
            {"apiVersion": KUEUE, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value}
            for name, value in (("low", 100), ("high", 1000))
        ),
    ]
    kubectl_apply_all(control_plane, objects, tmp_path / "queue.yaml")
    yield QUEUE
    control_plane.kubectl("delete", "clusterqueue", cluster_queue, "--wait=false", check=False)


def queued(manifest: dict[str, Any], priority: str | None = None) -> dict[str, Any]:
    """The TrainJob sent to the test's queue (with a Kueue priority class), one CPU per worker."""
    labels = {"kueue.x-k8s.io/queue-name": QUEUE}
    if priority:
        labels["kueue.x-k8s.io/priority-class"] = priority
    manifest["metadata"]["labels"] = labels
    manifest["spec"].update(numNodes=2, resourcesPerNode=ONE_CPU)
    return manifest


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """The condition that carries the latest transition's reason and message (`Reconciling`)."""
    return next((c for c in status.get("conditions") or [] if c["type"] == "Reconciling"), {})


def trainjob_status(cp: ControlPlane, namespace: str, name: str) -> str:
    """`trainjob status NAME`, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "trainjob",
            "status",
            name,
            "-n",
            namespace,
            "--kubeconfig",
            str(cp.kubeconfig),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_two_trainjobs_over_the_quota_run_one_after_the_other(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    queue: str,
    tmp_path: Path,
) -> None:
    cp = control_plane
    done = tmp_path / "markers" / "done"
    done.parent.mkdir()
    sleeper = ["python", "tests/workers/sleeper.py", "--until", str(done)]
    for name in ("first", "second"):
        manifest = with_host_directory(queued(worker_manifest(name, namespace, sleeper)), done.parent)
        kubectl_apply(cp, manifest, tmp_path)
        if name == "first":
            wait_for_status(cp, namespace, name, lambda s: s.get("phase") == "Running", operator=operator)

    waiting = wait_for_status(
        cp, namespace, "second", lambda s: "Kueue:" in summary(s).get("message", ""), operator=operator
    )
    assert waiting["phase"] == "Suspended" and summary(waiting)["reason"] == "Queued"
    assert "insufficient unused quota for cpu" in summary(waiting)["message"], summary(waiting)
    assert not worker_pods(cp, namespace, "second"), "a queued job has no pods"
    header, row = cp.kubectl("get", "tj", "second", "-n", namespace).stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "PHASE", "REASON"] and row.split()[:3] == [
        "second",
        "Suspended",
        "Queued",
    ]
    described = trainjob_status(cp, namespace, "second")
    assert "Suspended" in described and "insufficient unused quota for cpu" in described, described

    done.touch()
    first = wait_for_status(cp, namespace, "first", operator=operator)
    assert_succeeded(cp, namespace, first, test_node)
    second = wait_for_status(cp, namespace, "second", operator=operator)
    assert_succeeded(cp, namespace, second, test_node)
    started = min(pod["metadata"]["creationTimestamp"] for pod in worker_pods(cp, namespace, "second"))
    assert started >= first["completionTime"], "the second job's workers started after the first ended"


def test_a_higher_priority_trainjob_preempts_one_that_resumes_from_its_checkpoint(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    queue: str,
    tmp_path: Path,
) -> None:
    cp = control_plane
    low = queued(cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=40), priority="low")
    low["metadata"]["name"] = "low"
    low["spec"].pop("earlyStopping", None)
    kubectl_apply(cp, low, tmp_path)  # its checkpoints on a hostPath volume (see `cluster_example`)
    before = wait_for_status(
        cp,
        namespace,
        "low",
        lambda s: (s.get("checkpoint") or {}).get("epoch", 0) >= 2,
        operator=operator,
    )
    assert before["phase"] == "Running", before

    done = tmp_path / "markers" / "done"
    done.parent.mkdir()
    high = worker_manifest("high", namespace, ["python", "tests/workers/sleeper.py", "--until", str(done)])
    kubectl_apply(cp, with_host_directory(queued(high, priority="high"), done.parent), tmp_path)
    preempted = wait_for_status(
        cp, namespace, "low", lambda s: summary(s).get("reason") == "Preempted", operator=operator
    )
    assert preempted["phase"] == "Suspended" and preempted["restarts"] == 0, preempted
    assert "resume from their checkpoint" in summary(preempted)["message"], summary(preempted)
    wait_for_status(cp, namespace, "high", lambda s: s.get("phase") == "Running", operator=operator)
    stopped = wait_for_status(cp, namespace, "low", lambda s: not worker_pods(cp, namespace, "low"))
    saved = stopped["checkpoint"]["epoch"]
    assert saved >= before["checkpoint"]["epoch"], "the preempted workers checkpointed as they stopped"

    done.touch()
    assert_succeeded(cp, namespace, wait_for_status(cp, namespace, "high", operator=operator), test_node)
    final = wait_for_status(cp, namespace, "low", operator=operator, timeout=600)
    assert_succeeded(cp, namespace, final, test_node)
    assert final["restarts"] == 0, "a preemption spends no restart of backoffLimit"
    (rank0, *_) = worker_pods(cp, namespace, "low")
    epochs = [
        int(epoch) for epoch in EPOCH_LINE.findall(test_node.logs(namespace, rank0["metadata"]["name"]))
    ]
    assert epochs[0] == saved + 1 and epochs[-1] == 40, (saved, epochs)
