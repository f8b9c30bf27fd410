"""The Helm chart, rendered by the real helm for each values profile: what each profile must contain.

Profiles: the default (one standalone replica watching every namespace), single-namespace,
HA (two replicas electing one through kopf peering, with a PodDisruptionBudget), and
ServiceMonitor on. The RBAC tests compare the granted permissions with the expected minimum
exactly, so that any permission added beyond it fails here (issue 9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import (
    CHART,
    KOPF_OBSERVATION,
    KUEUE_READ,
    WORKLOAD,
    grant_rules,
    kinds,
    only,
    peering,
    permissions,
    render,
)
from tests.cluster.tools import Cli, CommandFailed
from trainjob_api.crd import crd_manifest
from trainjob_api.status_fields import REPORTER_FIELDS

pytestmark = pytest.mark.integration

SERVICE_ACCOUNT = "system:serviceaccount:ops:op-trainjob-operator"
STATUS_POLICY = "op-trainjob-operator-status-fields"
CREATOR_POLICY = "op-trainjob-operator-creator-rights"
REFERENCES_POLICY = "op-trainjob-operator-creator-references"
CHECKPOINT_POLICY = "op-trainjob-operator-checkpoint-path"
POLICIES = (STATUS_POLICY, CREATOR_POLICY, REFERENCES_POLICY, CHECKPOINT_POLICY)


@pytest.fixture(scope="module")
def helm(k8s_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    home = tmp_path_factory.mktemp("helm")
    env = {f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
    yield Cli(k8s_bin_dir / "helm", {"HOME": str(home), **env})


def policy_names(objects: list[dict[str, Any]]) -> set[str]:
    """The names of the ValidatingAdmissionPolicies among the objects."""
    return {obj["metadata"]["name"] for obj in objects if obj["kind"] == "ValidatingAdmissionPolicy"}


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def test_helm_lint_strict(helm: Cli) -> None:
    for values in (
        [],
        ["--set=watchNamespaces={a,b}", "--set=replicaCount=2", "--set=peering.enabled=true"],
        ["--set=dashboard.enabled=true", "--set=dashboard.allowStop=true", "--set=dashboard.namespace=a"],
    ):
        result = helm("lint", "--strict", str(CHART), *values)
        assert "0 chart(s) failed" in result.stdout


def test_the_chart_crds_are_the_generated_crd_and_kopf_peering(helm: Cli) -> None:
    result = helm("show", "crds", str(CHART))
    crds = {crd["metadata"]["name"]: crd for crd in yaml.safe_load_all(result.stdout) if crd}
    assert sorted(crds) == ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev", "trainjobs.trainjob.dev"]
    assert crds["trainjobs.trainjob.dev"] == crd_manifest()
    assert crds["clusterkopfpeerings.kopf.dev"]["spec"]["scope"] == "Cluster"
    assert crds["kopfpeerings.kopf.dev"]["spec"]["scope"] == "Namespaced"


def test_default_profile_one_standalone_operator_for_every_namespace(helm: Cli) -> None:
    objects = render(helm)
    assert kinds(objects) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingAdmissionPolicyBinding",
    ]
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = deployment["spec"]["template"]
    assert pod["spec"]["serviceAccountName"] == only(objects, "ServiceAccount")["metadata"]["name"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()

    container = operator_container(objects)
    assert container["image"] == "ghcr.io/trainjob/operator:0.1.0"
    assert container["command"] == ["python", "-m", "trainjob_operator"]
    assert container["args"] == [
        "--liveness=http://0.0.0.0:8080/healthz",
        "--metrics-port=9090",
        "--resync-seconds=30",
        "--log-format=json",
    ]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["httpGet"] == {"path": "/healthz", "port": "health"}
    env = {var["name"]: var["valueFrom"]["fieldRef"]["fieldPath"] for var in container["env"]}
    assert env == {"TRAINJOB_OPERATOR_IDENTITY": "metadata.name", "POD_ID": "metadata.name"}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert container["resources"]["limits"] == {"memory": "512Mi"}

    service = only(objects, "Service")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]

    binding = only(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == only(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "op-trainjob-operator", "namespace": "ops"}
    ]


def test_default_profile_pod_meets_the_restricted_pod_security_standard(helm: Cli) -> None:
    objects = render(helm)
    pod = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(objects)
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert not any("hostPath" in volume for volume in pod["volumes"])


def test_cluster_role_grants_exactly_the_minimum(helm: Cli) -> None:
    assert permissions(only(render(helm), "ClusterRole")["rules"]) == KOPF_OBSERVATION | WORKLOAD


def test_the_kueue_integration_adds_only_reading_workloads(helm: Cli) -> None:
    granted = permissions(only(render(helm, "kueue.enabled=true"), "ClusterRole")["rules"])
    assert granted == KOPF_OBSERVATION | WORKLOAD | KUEUE_READ
    namespaced = only(
        render(helm, "kueue.enabled=true", "watchNamespaces={team-a}"), "Role", namespace="team-a"
    )
    assert permissions(namespaced["rules"]) == WORKLOAD | KUEUE_READ


def test_gang_schedulers_add_only_creating_their_pod_groups(helm: Cli) -> None:
    native = _grant_pod_groups("scheduling.k8s.io")
    third_party = _grant_pod_groups("scheduling.x-k8s.io") | _grant_pod_groups("scheduling.volcano.sh")
    everything = render(helm, "gangScheduling.coscheduling=true", "gangScheduling.volcano=true")
    assert permissions(only(everything, "ClusterRole")["rules"]) == KOPF_OBSERVATION | WORKLOAD | third_party
    none = render(helm, "gangScheduling.native=false", "watchNamespaces={team-a}")
    assert permissions(only(none, "Role", namespace="team-a")["rules"]) == WORKLOAD - native


def _grant_pod_groups(group: str) -> set[tuple[str, str, str, None]]:
    return {(group, "podgroups", "create", None)}


def test_single_namespace_profile_grants_the_workload_rules_only_there(helm: Cli) -> None:
    objects = render(helm, "watchNamespaces={team-a}")
    assert "--namespace=team-a" in operator_container(objects)["args"]
    assert not {"ClusterRole", "ClusterRoleBinding"} & set(kinds(objects)), "nothing cluster-wide"
    role = only(objects, "Role", namespace="team-a")
    assert permissions(role["rules"]) == WORKLOAD
    binding = only(objects, "RoleBinding", namespace="team-a")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "op-trainjob-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "op-trainjob-operator", "namespace": "ops"}
    ]
    for policy in POLICIES:
        spec = only(objects, "ValidatingAdmissionPolicy", name=policy)["spec"]
        assert spec["matchConstraints"]["namespaceSelector"]["matchExpressions"] == [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}
        ], policy


def test_ha_profile_elects_one_of_two_replicas_and_keeps_one_through_disruptions(helm: Cli) -> None:
    objects = render(helm, "replicaCount=2", "peering.enabled=true", "podDisruptionBudget.enabled=true")
    deployment = only(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "--peering=trainjob-operator" in operator_container(objects)["args"]
    anti = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]

    assert only(objects, "ClusterKopfPeering")["metadata"]["name"] == "trainjob-operator"
    granted = permissions(only(objects, "ClusterRole")["rules"])
    assert granted == KOPF_OBSERVATION | WORKLOAD | peering("clusterkopfpeerings", "trainjob-operator")

    budget = only(objects, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_ha_single_namespace_profile_peers_in_that_namespace(helm: Cli) -> None:
    objects = render(helm, "replicaCount=2", "peering.enabled=true", "watchNamespaces={team-a}")
    peering_object = only(objects, "KopfPeering")
    assert peering_object["metadata"] == peering_object["metadata"] | {
        "name": "trainjob-operator",
        "namespace": "team-a",
    }
    role = only(objects, "Role", namespace="team-a")
    assert permissions(role["rules"]) == WORKLOAD | peering("kopfpeerings", "trainjob-operator")


def test_service_monitor_profile_scrapes_the_metrics_service(helm: Cli) -> None:
    objects = render(
        helm, "metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"
    )
    monitor = only(objects, "ServiceMonitor")
    service = only(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]


def test_status_policy_exempts_only_the_operator_and_allows_only_the_reporter_fields(helm: Cli) -> None:
    objects = render(helm)
    policy = only(objects, "ValidatingAdmissionPolicy", name=STATUS_POLICY)["spec"]
    assert policy["failurePolicy"] == "Fail"
    assert policy["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["trainjob.dev"],
            "apiVersions": ["*"],
            "operations": ["UPDATE"],
            "resources": ["trainjobs/status"],
        }
    ]
    (condition,) = policy["matchConditions"]
    assert f"!= '{SERVICE_ACCOUNT}'" in condition["expression"]
    owned = next(variable for variable in policy["variables"] if variable["name"] == "owned")
    assert owned["expression"] == repr(list(REPORTER_FIELDS)).replace('"', "'")
    binding = only(objects, "ValidatingAdmissionPolicyBinding", name=STATUS_POLICY)["spec"]
    assert binding == {"policyName": STATUS_POLICY, "validationActions": ["Deny"]}
    assert STATUS_POLICY not in policy_names(render(helm, "statusPolicy.enabled=false"))


def test_creator_policies_check_creates_and_spec_changes_of_trainjobs_only(helm: Cli) -> None:
    objects = render(helm)
    for name in (CREATOR_POLICY, REFERENCES_POLICY):
        policy = only(objects, "ValidatingAdmissionPolicy", name=name)["spec"]
        assert policy["failurePolicy"] == "Fail"
        # The main resource only: status writes (a subresource) are not matched.
        assert policy["matchConstraints"]["resourceRules"] == [
            {
                "apiGroups": ["trainjob.dev"],
                "apiVersions": ["*"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["trainjobs"],
            }
        ]
        assert policy["matchConditions"] == [
            {
                "name": "creates-or-changes-the-spec",
                "expression": "oldObject == null || object.spec != oldObject.spec",
            }
        ]
    (pods,) = only(objects, "ValidatingAdmissionPolicy", name=CREATOR_POLICY)["spec"]["validations"]
    assert "resource('pods').namespace(request.namespace).check('create')" in pods["expression"]
    assert "may not create pods in namespace" in pods["messageExpression"]
    binding = only(objects, "ValidatingAdmissionPolicyBinding", name=CREATOR_POLICY)["spec"]
    assert binding == {"policyName": CREATOR_POLICY, "validationActions": ["Deny"]}
    assert policy_names(render(helm, "creatorPolicy.enabled=false")) == {STATUS_POLICY, CHECKPOINT_POLICY}


def test_finer_checks_apply_in_labelled_namespaces_or_everywhere(helm: Cli) -> None:
    objects = render(helm)
    binding = only(objects, "ValidatingAdmissionPolicyBinding", name=REFERENCES_POLICY)["spec"]
    assert binding["matchResources"] == {
        "namespaceSelector": {"matchLabels": {"trainjob.dev/creator-rights": "strict"}}
    }
    everywhere = render(helm, "creatorPolicy.strictEverywhere=true")
    binding = only(everywhere, "ValidatingAdmissionPolicyBinding", name=REFERENCES_POLICY)["spec"]
    assert binding == {"policyName": REFERENCES_POLICY, "validationActions": ["Deny"]}

    validations = only(objects, "ValidatingAdmissionPolicy", name=REFERENCES_POLICY)["spec"]["validations"]
    service_account, cap, *secrets = validations
    assert "check('impersonate')" in service_account["expression"]
    assert "size(variables.secrets) <= 16 ||" in cap["expression"]
    # One authorizer check per expression (the apiserver allows two), one per Secret of the first 16.
    assert len(secrets) == 16
    for index, validation in enumerate(secrets):
        assert validation["expression"].count("check(") == 1
        assert f".name(variables.secrets[{index}]).check('get')" in validation["expression"]
        assert f"may not get Secret ' + variables.secrets[{index}]" in validation["messageExpression"]


def test_checkpoint_policy_only_warns_about_trainjobs_in_the_watched_namespaces(helm: Cli) -> None:
    objects = render(helm, "watchNamespaces={team-a}", "statusPolicy.enabled=false")
    policy = only(objects, "ValidatingAdmissionPolicy", name=CHECKPOINT_POLICY)
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["trainjobs"]
    assert policy["spec"]["matchConstraints"]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "team-a"
    ]
    binding = only(objects, "ValidatingAdmissionPolicyBinding", name=CHECKPOINT_POLICY)
    assert binding["spec"] == {
        "policyName": "op-trainjob-operator-checkpoint-path",
        "validationActions": ["Warn"],
    }
    assert "ValidatingAdmissionPolicy" not in kinds(
        render(
            helm,
            "statusPolicy.enabled=false",
            "checkpointPolicy.enabled=false",
            "creatorPolicy.enabled=false",
        )
    )


def test_image_digest_pins_the_image(helm: Cli) -> None:
    digest = "sha256:" + "ab" * 32
    container = operator_container(render(helm, f"image.digest={digest}", "image.tag=9.9.9"))
    assert container["image"] == f"ghcr.io/trainjob/operator@{digest}"


@pytest.mark.parametrize(
    ("values", "error"),
    [
        (["replicaCount=2"], "replicaCount > 1 needs peering.enabled=true"),
        (["podDisruptionBudget.enabled=true"], "podDisruptionBudget.enabled needs replicaCount >= 2"),
        (
            ["metrics.serviceMonitor.enabled=true", "metrics.service.enabled=false"],
            "needs metrics.service.enabled",
        ),
        (["replicas=2"], "additional properties 'replicas' not allowed"),
        (["operator.logFormat=xml"], "logFormat"),
        (["image.digest=latest"], "digest"),
        (["watchNamespaces={Team_A}"], "watchNamespaces"),
        (["creatorPolicy.enabled=yes"], "/creatorPolicy/enabled': got string, want boolean"),
        (["creatorPolicy.strict=true"], "additional properties 'strict' not allowed"),
        (["dashboard.enabled=true", "dashboard.namespace=Team_A"], "/dashboard/namespace"),
    ],
)
def test_bad_values_are_refused_with_a_reason(helm: Cli, values: list[str], error: str) -> None:
    with pytest.raises(CommandFailed) as failed:
        render(helm, *values)
    assert error in failed.value.result.stderr


def test_grafana_dashboard_profile_ships_the_dashboard_for_the_sidecar(helm: Cli) -> None:
    assert "ConfigMap" not in kinds(render(helm)), "off by default"
    objects = render(
        helm, "metrics.grafanaDashboard.enabled=true", "metrics.grafanaDashboard.namespace=grafana"
    )
    config_map = only(objects, "ConfigMap", namespace="grafana")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads(config_map["data"]["trainjob.json"])
    assert shipped == json.loads((CHART / "dashboards" / "trainjob.json").read_text())
    assert shipped["uid"] == "trainjob-operator" and len(shipped["panels"]) >= 2


DASHBOARD = "op-trainjob-operator-dashboard"
#: What the web dashboard reads: TrainJobs (one watch), worker pods and logs, Events, histories.
DASHBOARD_READ = (
    grant_rules("trainjob.dev", ["trainjobs"], ["get", "list", "watch"])
    | grant_rules("", ["pods", "configmaps"], ["get", "list"])
    | grant_rules("", ["pods/log"], ["get"])
    | grant_rules("", ["events"], ["list"])
)


def _labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_the_web_dashboard_is_off_by_default_and_read_only_when_on(helm: Cli) -> None:
    assert not [obj for obj in render(helm) if "dashboard" in obj["metadata"]["name"]], "off by default"
    objects = render(helm, "dashboard.enabled=true")
    assert permissions(only(objects, "ClusterRole", name=DASHBOARD)["rules"]) == DASHBOARD_READ
    binding = only(objects, "ClusterRoleBinding", name=DASHBOARD)
    assert binding["roleRef"]["name"] == DASHBOARD
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": DASHBOARD, "namespace": "ops"}]
    only(objects, "ServiceAccount", namespace="ops", name=DASHBOARD)
    deployment = only(objects, "Deployment", name=DASHBOARD)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["serviceAccountName"] == DASHBOARD
    assert container["command"][:4] == ["python", "-m", "trainjob", "dashboard"]
    assert "--in-cluster" in container["command"] and "--all-namespaces" in container["args"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    service = only(objects, "Service", name=DASHBOARD)
    assert service["spec"]["type"] == "ClusterIP"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _labels_match(service["spec"]["selector"], labels)
    # The operator's Deployment and metrics Service never select the dashboard's pods, nor the other way.
    operator = only(objects, "Deployment", name="op-trainjob-operator")
    assert not _labels_match(operator["spec"]["selector"]["matchLabels"], labels)
    assert not _labels_match(service["spec"]["selector"], operator["spec"]["template"]["metadata"]["labels"])


def test_the_dashboard_may_patch_trainjobs_only_with_allow_stop(helm: Cli) -> None:
    objects = render(helm, "dashboard.enabled=true", "dashboard.allowStop=true")
    granted = permissions(only(objects, "ClusterRole", name=DASHBOARD)["rules"])
    assert granted == DASHBOARD_READ | {("trainjob.dev", "trainjobs", "patch", None)}


def test_a_dashboard_of_one_namespace_is_granted_its_rights_only_there(helm: Cli) -> None:
    objects = render(helm, "dashboard.enabled=true", "dashboard.namespace=team-a")
    assert not [
        obj for obj in objects if obj["kind"].startswith("Cluster") and obj["metadata"]["name"] == DASHBOARD
    ]
    assert permissions(only(objects, "Role", namespace="team-a", name=DASHBOARD)["rules"]) == DASHBOARD_READ
    only(objects, "RoleBinding", namespace="team-a", name=DASHBOARD)
    (container,) = only(objects, "Deployment", name=DASHBOARD)["spec"]["template"]["spec"]["containers"]
    assert "--namespace=team-a" in container["args"] and "--all-namespaces" not in container["args"]
