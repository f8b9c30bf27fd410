"""The chart's HA profile on the real control plane: two replicas, one active, failover.

Two replicas watch one namespace (so the workload permissions come from the chart's Role
there) and elect one active operator through kopf peering. The active one reconciles a
TrainJob; the PodDisruptionBudget lets one replica be evicted and refuses the second eviction;
after the eviction the survivor (or the replacement, whichever has the higher priority) takes
over and reconciles the TrainJob's next change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart import (
    install,
    permission_denials,
    release_pods,
    restricted_namespace,
    running_pods,
    uninstall,
)
from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import cluster_example, kubectl_apply, wait_for_status, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELEASE = "tj-ha"


def peering_status(cp: ControlPlane, namespace: str) -> dict[str, dict[str, Any]]:
    peering = cp.admin.get(f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/trainjob-operator")
    return peering.get("status") or {}


def paused(log: str) -> bool:
    """Whether this replica is paused: with mandatory peering kopf starts paused (silently) and
    logs when it resumes (no higher-priority peer left) and when it pauses again."""
    return log.rfind("Pausing operations") >= log.rfind("Resuming operations")


def one_active_replica(cp: ControlPlane, node: TestNode, release_ns: str, watched: str) -> str | None:
    """The active replica once the peering lists exactly the running pods and only the one with
    the highest priority runs while the others are paused; else None."""
    pods = [pod["metadata"]["name"] for pod in release_pods(cp, release_ns, RELEASE)]
    peers = peering_status(cp, watched)
    if sorted(peers) != sorted(pods) or len(pods) != 2:
        return None
    active = max(peers, key=lambda name: peers[name]["priority"])
    logs = {name: node.logs(release_ns, name) for name in pods}
    if paused(logs[active]) or not all(paused(logs[name]) for name in pods if name != active):
        return None
    return active


def peering_story(cp: ControlPlane, node: TestNode, release_ns: str, watched: str) -> str:
    """What the replicas and the peering say, for a failure message."""
    pods = [pod["metadata"]["name"] for pod in release_pods(cp, release_ns, RELEASE)]
    logs = {
        name: [line for line in node.logs(release_ns, name).splitlines() if "operations" in line]
        for name in pods
    }
    return f"one active replica: peers {peering_status(cp, watched)}, pods {pods}, peering logs {logs}"


def evict(cp: ControlPlane, namespace: str, pod: str) -> None:
    cp.admin.create(
        f"/api/v1/namespaces/{namespace}/pods/{pod}/eviction",
        {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}},
    )


def test_ha_profile_elects_one_replica_reconciles_and_fails_over(
    control_plane: ControlPlane, test_node: TestNode, namespace: str, tmp_path: Path
) -> None:
    cp = control_plane
    release_ns = restricted_namespace(cp, "ops-ha")
    values = ("replicaCount=2", "peering.enabled=true", "podDisruptionBudget.enabled=true")
    install(cp, RELEASE, release_ns, *values, f"watchNamespaces={{{namespace}}}")
    try:
        running_pods(cp, release_ns, RELEASE, 2)
        active = wait_until(
            lambda: one_active_replica(cp, test_node, release_ns, namespace),
            lambda: peering_story(cp, test_node, release_ns, namespace),
        )
        standby = next(
            pod["metadata"]["name"]
            for pod in release_pods(cp, release_ns, RELEASE)
            if pod["metadata"]["name"] != active
        )
        # The active replica reconciles with the Role in the watched namespace: the reporter's
        # identity, the Service and the (suspended) Job are created, the status is written.
        manifest = cluster_example("digits-ddp", namespace, tmp_path, runPolicy={"suspend": True})
        kubectl_apply(cp, manifest, tmp_path)
        wait_for_status(
            cp, namespace, "digits", lambda status: status.get("phase") == "Suspended", timeout=120
        )
        for name in ("digits-reporter", "digits-workers"):
            kind = "serviceaccounts" if name.endswith("reporter") else "services"
            assert cp.admin.get(f"/api/v1/namespaces/{namespace}/{kind}/{name}")
        logs = [test_node.logs(release_ns, pod) for pod in (active, standby)]
        assert "digits" in logs[0]
        assert not [line for log in logs for line in permission_denials(log)]

        pdb_path = f"/apis/policy/v1/namespaces/{release_ns}/poddisruptionbudgets/{RELEASE}-trainjob-operator"
        wait_until(lambda: cp.admin.get(pdb_path).get("status", {}).get("disruptionsAllowed") == 1, "the PDB")
        evict(cp, release_ns, active)
        with pytest.raises(ApiError) as blocked:
            evict(cp, release_ns, standby)
        assert blocked.value.status == 429, "the budget keeps one replica"

        wait_until(
            lambda: (name := one_active_replica(cp, test_node, release_ns, namespace)) != active and name,
            lambda: "a new " + peering_story(cp, test_node, release_ns, namespace),
        )
        assert active not in peering_status(cp, namespace)
        # The new active replica (every other one is paused) reconciles the next change.
        cp.kubectl(
            "patch",
            "tj/digits",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"runPolicy":{"suspend":false}}}',
        )
        wait_for_status(
            cp, namespace, "digits", lambda status: status.get("phase") in ("Created", "Running"), timeout=120
        )
    finally:
        uninstall(cp, RELEASE, release_ns)
