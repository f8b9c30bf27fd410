"""The kubelet rules the test node applies without an apiserver: env resolution and DNS records."""

from __future__ import annotations

import base64
from decimal import Decimal

import pytest

from tests.cluster.dns import ClusterDns
from tests.cluster.podspec import (
    MissingReference,
    container_env,
    expand,
    field_value,
    object_data,
    parse_quantity,
)

POD = {
    "metadata": {
        "name": "ddp-worker-1-abcde",
        "namespace": "team",
        "uid": "u-1",
        "labels": {"app": "ddp"},
        "annotations": {"batch.kubernetes.io/job-completion-index": "1"},
    },
    "spec": {
        "nodeName": "test-node",
        "serviceAccountName": "runner",
        "containers": [{"name": "main", "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}}}],
    },
    "status": {"podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}], "hostIP": "10.0.0.1"},
}
OBJECTS = {
    ("configmaps", "team", "settings"): {"LR": "0.1", "EPOCHS": "3"},
    ("secrets", "team", "creds"): {"password": "s3cret"},
}


def lookup(kind: str, namespace: str, name: str) -> dict[str, str] | None:
    return OBJECTS.get((kind, namespace, name))


def env_of(container: dict) -> dict[str, str]:
    return container_env(
        POD, {"name": "main", **container}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, lookup, {}
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", "0.5"),
        ("2", "2"),
        ("1Gi", "1073741824"),
        ("1k", "1000"),
        ("2e3", "2000"),
        ("1E", "1e18"),
        ("64Mi", "67108864"),
    ],
)
def test_quantities(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


def test_expansion_replaces_known_names_and_keeps_the_rest() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)-$(B)", env) == "x-y"
    assert expand("$(MISSING) $$(A) $A $(", env) == "$(MISSING) $(A) $A $("


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "ddp-worker-1-abcde"),
        ("metadata.namespace", "team"),
        ("metadata.uid", "u-1"),
        ("metadata.annotations['batch.kubernetes.io/job-completion-index']", "1"),
        ("metadata.labels['app']", "ddp"),
        ("metadata.labels", 'app="ddp"'),
        ("spec.nodeName", "test-node"),
        ("spec.serviceAccountName", "runner"),
        ("status.podIP", "10.0.0.7"),
        ("status.hostIP", "10.0.0.1"),
    ],
)
def test_field_refs(path: str, value: str) -> None:
    assert field_value(POD, path) == value


def test_env_order_and_sources_follow_the_kubelet() -> None:
    index = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    mebibytes = {"resource": "limits.memory", "divisor": "1Mi"}
    optional = {"name": "nope", "key": "x", "optional": True}
    env = env_of(
        {
            "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
            "env": [
                {"name": "RANK", "valueFrom": {"fieldRef": {"fieldPath": index}}},
                {"name": "ADDR", "value": "$(KUBERNETES_SERVICE_HOST):$(RANK)"},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "LR", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LR"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": mebibytes}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": optional}},
                {"name": "CFG_LR", "value": "override"},
            ],
        }
    )
    assert env == {
        "KUBERNETES_SERVICE_HOST": "10.0.0.1",
        "CFG_LR": "override",
        "CFG_EPOCHS": "3",
        "RANK": "1",
        "ADDR": "10.0.0.1:1",
        "PASSWORD": "s3cret",
        "LR": "0.1",
        "CPU": "2",
        "MEM_MI": "1024",
    }


def test_a_missing_required_key_blocks_the_container() -> None:
    with pytest.raises(MissingReference):
        env_of({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]})
    with pytest.raises(MissingReference):
        env_of({"envFrom": [{"secretRef": {"name": "absent"}}]})


def test_object_data_decodes_secrets_and_binary_config() -> None:
    secret = {"kind": "Secret", "data": {"k": base64.b64encode(b"v").decode()}}
    configmap = {
        "kind": "ConfigMap",
        "data": {"a": "b"},
        "binaryData": {"c": base64.b64encode(b"\x00").decode()},
    }
    assert object_data(secret) == {"k": b"v"}
    assert object_data(configmap) == {"a": b"b", "c": b"\x00"}


def endpoint_slice(uid: str, ready: bool, headless: bool = True) -> dict:
    labels = {"kubernetes.io/service-name": "workers"}
    if headless:
        labels["service.kubernetes.io/headless"] = ""
    return {
        "metadata": {"uid": uid, "name": f"workers-{uid}", "namespace": "team", "labels": labels},
        "endpoints": [{"addresses": ["10.0.0.7"], "hostname": "ddp-0", "conditions": {"ready": ready}}],
    }


def test_dns_serves_ready_endpoints_of_headless_services_only() -> None:
    dns = ClusterDns()
    dns.on_event("ADDED", endpoint_slice("a", ready=False))
    dns.on_event("ADDED", endpoint_slice("b", ready=True, headless=False))
    assert dns.hosts_lines("team") == []
    dns.on_event("MODIFIED", endpoint_slice("a", ready=True))
    lines = dns.hosts_lines("team")
    assert lines[0].split() == [
        "10.0.0.7",
        "ddp-0.workers.team.svc.cluster.local",
        "ddp-0.workers.team.svc",
        "ddp-0.workers.team",
        "ddp-0.workers",
    ]
    assert lines[1].split()[-1] == "workers"
    assert (
        "ddp-0.workers" not in dns.hosts_lines("elsewhere")[0].split()
    )  # short names only in the same namespace
    dns.on_event("DELETED", endpoint_slice("a", ready=True))
    assert dns.hosts_lines("team") == []
