"""The Helm chart installed on the real control plane: the operator pod from the chart does the work.

`helm install` puts the chart into a namespace that enforces the restricted Pod Security
Standard; the test node runs the Deployment's pod with the chart's command
(`python -m trainjob_operator`, on the test venv's Python), its ServiceAccount token and
nothing else, so the chart's RBAC is all the operator has. A TrainJob in another namespace
then trains to Succeeded while the chart's ValidatingAdmissionPolicy is active, and the
policy refuses what a worker's reporter may not write (the HA profile: test_chart_ha.py).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import (
    KOPF_OBSERVATION,
    WORKLOAD,
    argocd_health,
    installed,
    permission_denials,
    permissions,
    running_pods,
)
from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    cluster_example,
    condition_statuses,
    kubectl_apply,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELEASE = "tj"


@pytest.fixture(scope="module")
def chart(control_plane: ControlPlane, test_node: TestNode) -> Iterator[str]:
    """The chart installed with its default values (watching every namespace); its namespace."""
    with installed(control_plane, RELEASE) as namespace:
        yield namespace


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

    manifest = cluster_example("digits-ddp", namespace, tmp_path, maxEpochs=3)
    kubectl_apply(cp, manifest, tmp_path)
    health: list[tuple[str | None, str]] = []

    def record_health(status: dict[str, Any]) -> None:
        trainjob = {**manifest, "metadata": {**manifest["metadata"], "generation": 1}, "status": status}
        health.append((status.get("phase"), argocd_health(trainjob)[0]))

    status = wait_for_status(cp, namespace, "digits", every=record_health)
    assert_succeeded(cp, namespace, status, test_node)
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
    denied = permission_denials(log)
    assert not denied, "\n".join(denied[:10])
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
    manifest = cluster_example("digits-ddp", namespace, tmp_path, runPolicy={"suspend": True})
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

    wait_until(policy_denies, "the status policy to be in force", timeout=60)
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
