"""The Helm chart installed on the real control plane: the operator pod from the chart does the work.

`helm install` puts the chart into a namespace that enforces the restricted Pod Security
Standard; the test node runs the Deployment's pod with the chart's command
(`python -m trainjob_operator`, on the test venv's Python), its ServiceAccount token and
nothing else, so the chart's RBAC is all the operator has. A TrainJob in another namespace
then trains to Succeeded while the chart's ValidatingAdmissionPolicy is active. The HA
profile elects one of two replicas through kopf peering, and the PodDisruptionBudget keeps
one of them through evictions.
"""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import CHART, KOPF_OBSERVATION, WORKLOAD, argocd_health, permissions
from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import condition_statuses, example_manifest, kubectl_apply, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELEASE = "tj"
PERMISSION_ERRORS = ("forbidden", "not enough permissions")  # how a 403 reads in kopf's log


def eventually(check: Callable[[], Any], what: str | Callable[[], str], timeout: float = 120) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` (or what it says) on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what if isinstance(what, str) else what()}")


def create_namespace(cp: ControlPlane, prefix: str, labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})
    return name


def restricted_namespace(cp: ControlPlane, prefix: str) -> str:
    """A namespace that enforces the restricted Pod Security Standard."""
    return create_namespace(cp, prefix, {"pod-security.kubernetes.io/enforce": "restricted"})


def release_pods(cp: ControlPlane, namespace: str, release: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={release}"
    pods = cp.admin.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector)["items"]
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]


def running_pods(cp: ControlPlane, namespace: str, release: str, count: int) -> list[dict[str, Any]]:
    def running() -> list[dict[str, Any]]:
        pods = release_pods(cp, namespace, release)
        ok = len(pods) == count and all(pod["status"].get("phase") == "Running" for pod in pods)
        return pods if ok else []

    return eventually(running, f"{count} running operator pod(s) of {release}")


def install(cp: ControlPlane, release: str, namespace: str, *values: str) -> None:
    sets = [f"--set={value}" for value in values]
    cp.helm("install", release, str(CHART), "-n", namespace, "--wait", "--timeout=240s", *sets, timeout=300)


def uninstall(cp: ControlPlane, release: str, namespace: str) -> None:
    """Uninstall and wait until no operator of the release runs any more."""
    cp.helm("uninstall", release, "-n", namespace, "--wait", "--timeout=120s", timeout=180)
    eventually(lambda: not release_pods(cp, namespace, release), f"the pods of {release} to go", timeout=120)
    cp.admin.delete(f"/api/v1/namespaces/{namespace}")


@pytest.fixture(scope="module")
def chart(control_plane: ControlPlane, test_node: TestNode) -> Iterator[str]:
    """The chart installed with its default values (watching every namespace); its namespace."""
    namespace = restricted_namespace(control_plane, "ops")
    install(control_plane, RELEASE, namespace)
    yield namespace
    uninstall(control_plane, RELEASE, namespace)


def operator_log(node: TestNode, namespace: str, pod: dict[str, Any]) -> str:
    return node.logs(namespace, pod["metadata"]["name"])


def test_the_operator_from_the_chart_trains_a_trainjob_to_succeeded(
    control_plane: ControlPlane, test_node: TestNode, chart: str, namespace: str, tmp_path: Path
) -> None:
    cp = control_plane
    (pod,) = running_pods(cp, chart, RELEASE, 1)
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "trainjob_operator"]
    assert pod["spec"]["serviceAccountName"] == f"{RELEASE}-trainjob-operator"
    assert any(volume["name"].startswith("kube-api-access-") for volume in pod["spec"]["volumes"])

    manifest = example_manifest(
        "digits-ddp",
        namespace,
        maxEpochs=3,
        env=[{"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}],
    )
    manifest["spec"]["checkpoint"]["path"] = str(tmp_path / "checkpoints")
    kubectl_apply(cp, manifest, tmp_path)
    health: list[tuple[str | None, str]] = []

    def record_health(status: dict[str, Any]) -> None:
        trainjob = {**manifest, "metadata": {**manifest["metadata"], "generation": 1}, "status": status}
        health.append((status.get("phase"), argocd_health(trainjob)[0]))

    status = wait_for_status(cp, namespace, "digits", every=record_health)
    assert status["phase"] == "Succeeded", status
    assert condition_statuses(status)["Ready"] == "True"
    # The rank-0 reporter wrote its fields (the status policy let it) up to the last epoch.
    assert status["progress"]["epoch"] == status["progress"]["totalEpochs"] == 3
    assert status["metrics"]["values"]["val_accuracy"] > 0.8
    # The pipeline commands the README documents.
    cp.kubectl("wait", "tj/digits", "-n", namespace, "--for=condition=Ready", "--timeout=30s")
    finished = '--for=jsonpath={.status.conditions[?(@.type=="Reconciling")].status}=False'
    cp.kubectl("wait", "tj/digits", "-n", namespace, finished, "--timeout=30s")
    assert (
        cp.kubectl("get", "tj/digits", "-n", namespace, "-o", "jsonpath={.status.phase}").stdout
        == "Succeeded"
    )

    assert ("Running", "Progressing") in health
    assert health[-1] == ("Succeeded", "Healthy")
    assert "Degraded" not in {state for _, state in health}

    # What the probes and the metrics Service reach, on the pod's address.
    ip = pod["status"]["podIP"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health", "scheme": "HTTP"}
    with urllib.request.urlopen(f"http://{ip}:{ports['health']}/healthz", timeout=10) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://{ip}:{ports['metrics']}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'trainjob_operator_transitions_total{phase="Succeeded",reason="Completed"} 1' in metrics

    log = operator_log(test_node, chart, pod).lower()
    assert "creation is processed" in log
    assert not [error for error in PERMISSION_ERRORS if error in log], log[-3000:]
    installed = cp.admin.get(f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{RELEASE}-trainjob-operator")
    assert permissions(installed["rules"]) == KOPF_OBSERVATION | WORKLOAD


def test_the_release_namespace_enforces_the_restricted_standard(
    control_plane: ControlPlane, chart: str
) -> None:
    """The operator pod was admitted under `restricted`; a pod that does not meet it is not."""
    pod = {
        "metadata": {"name": "lax"},
        "spec": {"containers": [{"name": "c", "image": "x", "command": ["true"]}]},
    }
    with pytest.raises(ApiError) as refused:
        control_plane.admin.create(f"/api/v1/namespaces/{chart}/pods", pod)
    assert refused.value.status == 403
    assert "violates PodSecurity" in str(refused.value)
    assert running_pods(control_plane, chart, RELEASE, 1)


def test_the_status_policy_keeps_the_reporter_to_its_own_fields(
    control_plane: ControlPlane, chart: str, namespace: str, tmp_path: Path
) -> None:
    cp = control_plane
    manifest = example_manifest("digits-ddp", namespace, runPolicy={"suspend": True})
    kubectl_apply(cp, manifest, tmp_path)
    wait_for_status(cp, namespace, "digits", lambda status: status.get("phase") == "Suspended", timeout=120)
    token = cp.service_account_token(namespace, "digits-reporter")
    reporter = cp.token_client(token)
    status_path = f"/apis/trainjob.dev/v1alpha1/namespaces/{namespace}/trainjobs/digits/status"

    def policy_denies() -> bool:
        """A dry run of a forged phase, until the freshly installed policy is in force."""
        try:
            merge = "application/merge-patch+json"
            forged = {"status": {"phase": "Succeeded"}}
            reporter.request("PATCH", status_path, forged, query={"dryRun": "All"}, content_type=merge)
        except ApiError as error:
            return error.status == 403
        return False

    eventually(policy_denies, "the status policy to be in force", timeout=60)
    patched = reporter.patch(
        status_path, {"status": {"progress": {"epoch": 1, "totalEpochs": 12}}}, kind="merge"
    )
    assert patched["status"]["progress"] == {"epoch": 1, "totalEpochs": 12}
    for forged in ({"phase": "Succeeded"}, {"conditions": None}, {"restarts": 7}):
        with pytest.raises(ApiError) as denied:
            reporter.patch(status_path, {"status": forged}, kind="merge")
        assert denied.value.status == 403, forged
        assert "ValidatingAdmissionPolicy 'tj-trainjob-operator-status-fields'" in str(denied.value)
    status = cp.admin.get(status_path)["status"]
    assert status["phase"] == "Suspended" and status["restarts"] == 0
    assert condition_statuses(status)["Suspended"] == "True"


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
    pods = [pod["metadata"]["name"] for pod in release_pods(cp, release_ns, "tj-ha")]
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
    pods = [pod["metadata"]["name"] for pod in release_pods(cp, release_ns, "tj-ha")]
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


def test_ha_profile_elects_one_replica_and_fails_over(
    control_plane: ControlPlane, test_node: TestNode, namespace: str
) -> None:
    cp = control_plane
    release_ns = restricted_namespace(cp, "ops-ha")
    values = ("replicaCount=2", "peering.enabled=true", "podDisruptionBudget.enabled=true")
    install(cp, "tj-ha", release_ns, *values, f"watchNamespaces={{{namespace}}}")
    try:
        running_pods(cp, release_ns, "tj-ha", 2)
        active = eventually(
            lambda: one_active_replica(cp, test_node, release_ns, namespace),
            lambda: peering_story(cp, test_node, release_ns, namespace),
        )
        standby = next(
            p["metadata"]["name"]
            for p in release_pods(cp, release_ns, "tj-ha")
            if p["metadata"]["name"] != active
        )

        pdb_path = f"/apis/policy/v1/namespaces/{release_ns}/poddisruptionbudgets/tj-ha-trainjob-operator"
        eventually(
            lambda: cp.admin.get(pdb_path).get("status", {}).get("disruptionsAllowed") == 1, "the PDB status"
        )
        evict(cp, release_ns, active)
        with pytest.raises(ApiError) as blocked:
            evict(cp, release_ns, standby)
        assert blocked.value.status == 429, "the budget keeps one replica"

        new_active = eventually(
            lambda: (name := one_active_replica(cp, test_node, release_ns, namespace)) != active and name,
            lambda: "a new " + peering_story(cp, test_node, release_ns, namespace),
        )
        assert new_active != active
        assert active not in peering_status(cp, namespace)
    finally:
        uninstall(cp, "tj-ha", release_ns)
