"""Hypothesis strategies for TrainJob manifests, built from the schema's own bounds and patterns.

They aim at manifests that `validate()` accepts (tests filter with it), across every field the
builders read. Cross-field rules that only the Pod and Job APIs know (requests at most the
limits, one source per volume, toleration operators) are respected by construction: the schema
does not model them, and a TrainJob that breaks one fails with InvalidWorkers instead (see the
bad-manifest corpus).
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from trainjob_api.contract import is_reserved
from trainjob_api.enums import PULL_POLICIES, Backend, CleanPodPolicy, Mode
from trainjob_api.names import (
    API_VERSION,
    DNS_1035_LABEL,
    KIND,
    KUEUE_QUEUE_LABEL,
    MAX_NAME_LENGTH,
    PREFIX,
)
from trainjob_api.objectmeta import (
    DNS_SUBDOMAIN,
    LABEL_VALUE,
    QUALIFIED_NAME,
    is_label_value,
    is_qualified_name,
)
from trainjob_api.schema import IMAGE_REFERENCE, TRAINJOB_SCHEMA

SPEC = TRAINJOB_SCHEMA["properties"]["spec"]["properties"]
RUN_POLICY = SPEC["runPolicy"]["properties"]
EARLY_STOPPING = SPEC["earlyStopping"]["properties"]
CHECKPOINT = SPEC["checkpoint"]["properties"]
INT64_MAX = 2**63 - 1
#: The PriorityClass the generated pods may name (the test creates it: pods need it to exist).
PRIORITY_CLASS = "trainjob-property"


def bounded(schema: dict[str, Any]) -> st.SearchStrategy[int]:
    """Integers within a schema node's minimum and maximum."""
    return st.integers(schema.get("minimum", -INT64_MAX), schema.get("maximum", INT64_MAX))


def matching(pattern: str, max_size: int = 40) -> st.SearchStrategy[str]:
    """Strings that fully match a schema pattern, kept short."""
    return st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= max_size)


@st.composite
def images(draw: st.DrawFn) -> str:
    """An image reference, part by part as the reference grammar (`IMAGE_REFERENCE`) builds it."""
    host = draw(st.lists(matching("^[a-zA-Z0-9]([-a-zA-Z0-9]{0,6}[a-zA-Z0-9])?$"), min_size=1, max_size=3))
    port = draw(st.one_of(st.just(""), st.integers(1, 65535).map(lambda number: f":{number}")))
    registry = draw(st.one_of(st.just(""), st.just(".".join(host) + port + "/")))
    component = matching("^[a-z0-9]{1,5}(([._]|__|-{1,2})[a-z0-9]{1,5}){0,2}$")
    path = "/".join(draw(st.lists(component, min_size=1, max_size=3)))
    tag = draw(st.one_of(st.just(""), matching("^:[A-Za-z0-9_][-A-Za-z0-9_.]{0,10}$")))
    digest = draw(st.one_of(st.just(""), matching("^@sha256:[0-9a-f]{64}$", 80)))
    return registry + path + tag + digest


texts = st.text(max_size=30)
names = matching(DNS_1035_LABEL, MAX_NAME_LENGTH)
dns_labels = matching("^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$")
subdomains = matching(DNS_SUBDOMAIN, 60)
label_keys = matching(QUALIFIED_NAME, 80).filter(
    lambda key: is_qualified_name(key) and not key.startswith(f"{PREFIX}/")
)
label_values = matching(LABEL_VALUE, 63).filter(is_label_value)
env_names = matching("^[ -<>-~]{1,20}$").filter(lambda name: not is_reserved(name))


def env_sources() -> st.SearchStrategy[dict[str, Any]]:
    """A `valueFrom` of each kind a pod may use."""
    key_ref = st.fixed_dictionaries({"name": subdomains, "key": matching("^[-._a-zA-Z0-9]{1,20}$")})
    return st.one_of(
        st.fixed_dictionaries({"fieldRef": st.fixed_dictionaries({"fieldPath": st.sampled_from(
            ["metadata.name", "metadata.namespace", "spec.nodeName", "status.podIP"]
        )})}),
        st.fixed_dictionaries({"resourceFieldRef": st.fixed_dictionaries({"resource": st.sampled_from(
            ["limits.cpu", "limits.memory", "requests.cpu"]
        )})}),
        st.fixed_dictionaries({"secretKeyRef": key_ref}),
        st.fixed_dictionaries({"configMapKeyRef": key_ref}),
    )  # fmt: skip


def env() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Extra variables with unique names, literal or from a source."""
    variable = st.builds(
        lambda name, value: {"name": name, **value},
        env_names,
        st.one_of(
            st.fixed_dictionaries({"value": texts}), st.fixed_dictionaries({"valueFrom": env_sources()})
        ),
    )
    return st.lists(variable, max_size=4, unique_by=lambda variable: variable["name"])


@st.composite
def resources(draw: st.DrawFn) -> dict[str, Any]:
    """Requests at most the limits, GPUs as limits only (requests default to them)."""
    cpu, memory = draw(st.integers(1, 64)), draw(st.integers(1, 1 << 16))
    limits: dict[str, Any] = {"cpu": cpu, "memory": f"{memory}Mi"}
    if draw(st.booleans()):
        limits["nvidia.com/gpu"] = draw(st.integers(0, 8))
    requests = {"cpu": f"{draw(st.integers(1, cpu * 1000))}m", "memory": f"{draw(st.integers(1, memory))}Mi"}
    return {"limits": limits, "requests": requests}


def tolerations() -> st.SearchStrategy[list[dict[str, Any]]]:
    """Tolerations with operator Exists (no value) or Equal (a value)."""
    effects = st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"])
    exists = st.fixed_dictionaries(
        {"operator": st.just("Exists")}, optional={"key": label_keys, "effect": effects}
    )
    equal = st.fixed_dictionaries(
        {"key": label_keys, "operator": st.just("Equal"), "value": label_values}, optional={"effect": effects}
    )
    return st.lists(st.one_of(exists, equal), max_size=3)


@st.composite
def volumes(draw: st.DrawFn) -> dict[str, Any]:
    """Volumes of the kinds the restricted Pod Security level allows, some of them mounted."""
    names_ = draw(st.lists(dns_labels, max_size=3, unique=True))
    sources = st.one_of(
        st.just({"emptyDir": {}}),
        st.builds(lambda name: {"configMap": {"name": name}}, subdomains),
        st.builds(lambda name: {"secret": {"secretName": name}}, subdomains),
        st.builds(lambda name: {"persistentVolumeClaim": {"claimName": name}}, subdomains),
    )
    declared = [{"name": name, **draw(sources)} for name in names_]
    mounted = [name for name in names_ if draw(st.booleans())]
    mounts = [
        {"name": name, "mountPath": f"/mnt/{name}", "readOnly": draw(st.booleans())} for name in mounted
    ]
    return {"volumes": declared, "volumeMounts": mounts} if declared else {}


def pod_templates() -> st.SearchStrategy[dict[str, Any]]:
    """A podTemplate with every field, within what the restricted Pod Security level allows."""
    ids = st.integers(1, 2**31 - 1)
    pod_security = st.fixed_dictionaries(
        {},
        optional={
            "runAsUser": ids,
            "runAsGroup": ids,
            "fsGroup": ids,
            "runAsNonRoot": st.just(True),
            "seccompProfile": st.just({"type": "RuntimeDefault"}),
        },
    )
    container_security = st.fixed_dictionaries(
        {}, optional={"readOnlyRootFilesystem": st.booleans(), "runAsUser": ids,
                      "capabilities": st.just({"add": ["NET_BIND_SERVICE"]})},
    )  # fmt: skip
    fields = st.fixed_dictionaries(
        {},
        optional={
            "labels": st.dictionaries(label_keys, label_values, max_size=3),
            "annotations": st.dictionaries(label_keys, texts, max_size=3),
            "nodeSelector": st.dictionaries(label_keys, label_values, max_size=2),
            "tolerations": tolerations(),
            "priorityClassName": st.just(PRIORITY_CLASS),
            "serviceAccountName": subdomains,
            "imagePullSecrets": st.lists(st.fixed_dictionaries({"name": subdomains}), max_size=2),
            "securityContext": pod_security,
            "containerSecurityContext": container_security,
        },
    )
    return st.builds(lambda template, mounted: {**template, **mounted}, fields, volumes())


def run_policies() -> st.SearchStrategy[dict[str, Any]]:
    """A runPolicy within the schema's bounds."""
    return st.fixed_dictionaries(
        {},
        optional={
            "backoffLimit": bounded(RUN_POLICY["backoffLimit"]),
            "activeDeadlineSeconds": bounded(RUN_POLICY["activeDeadlineSeconds"]),
            "ttlSecondsAfterFinished": bounded(RUN_POLICY["ttlSecondsAfterFinished"]),
            "suspend": st.booleans(),
            "cleanPodPolicy": st.sampled_from(list(CleanPodPolicy)).map(str),
        },
    )


def early_stopping() -> st.SearchStrategy[dict[str, Any]]:
    """An earlyStopping section (thresholds may contradict each other: validate() filters those)."""
    values = st.floats(-1e6, 1e6, allow_nan=False)
    return st.fixed_dictionaries(
        {},
        optional={
            "monitor": st.text(min_size=1, max_size=20),
            "mode": st.sampled_from(list(Mode)).map(str),
            "patience": bounded(EARLY_STOPPING["patience"]),
            "minDelta": st.floats(0, 10, allow_nan=False),
            "stoppingThreshold": values,
            "divergenceThreshold": values,
        },
    )


def checkpoints() -> st.SearchStrategy[dict[str, Any]]:
    """A checkpoint section."""
    return st.fixed_dictionaries(
        {"path": st.text(min_size=1, max_size=40)},
        optional={
            "everyEpochs": bounded(CHECKPOINT["everyEpochs"]),
            "keepLast": bounded(CHECKPOINT["keepLast"]),
            "resume": st.booleans(),
        },
    )


def pod_group_policies() -> st.SearchStrategy[dict[str, Any]]:
    """Gang scheduling by kube-scheduler's own (the one the test control plane serves)."""
    scheduler = st.fixed_dictionaries({}, optional={"schedulerName": matching(DNS_SUBDOMAIN, 30)})
    return st.builds(lambda native: {"native": native}, scheduler)


def specs() -> st.SearchStrategy[dict[str, Any]]:
    """A TrainJob spec with any subset of the optional fields."""
    command = st.builds(
        lambda program, words: [program, *words],
        st.sampled_from(["python", "torchrun", "/usr/bin/env"]),
        st.lists(texts, max_size=3),
    )
    return st.fixed_dictionaries(
        {
            "image": images().filter(re.compile(IMAGE_REFERENCE).fullmatch),
            "command": command,
            "maxEpochs": bounded(SPEC["maxEpochs"]),
        },
        optional={
            "imagePullPolicy": st.sampled_from(PULL_POLICIES),
            "args": st.lists(texts, max_size=4),
            "workingDir": st.text(min_size=1, max_size=30),
            "numNodes": bounded(SPEC["numNodes"]),
            "numProcPerNode": bounded(SPEC["numProcPerNode"]),
            "backend": st.sampled_from(list(Backend)).map(str),
            "masterPort": bounded(SPEC["masterPort"]),
            "resourcesPerNode": resources(),
            "env": env(),
            "podTemplate": pod_templates(),
            "runPolicy": run_policies(),
            "earlyStopping": early_stopping(),
            "checkpoint": checkpoints(),
            "podGroupPolicy": pod_group_policies(),
        },
    )


def trainjobs() -> st.SearchStrategy[dict[str, Any]]:
    """A whole TrainJob manifest; some are queued in Kueue (which suspends their Job)."""
    labels = st.one_of(st.just({}), st.just({KUEUE_QUEUE_LABEL: "gpus"}))
    return st.builds(
        lambda name, labels, spec: {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": name, "labels": labels},
            "spec": spec,
        },
        names,
        labels,
        specs(),
    )
