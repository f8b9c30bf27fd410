"""The TrainJob schema: valid and invalid manifests, every CEL rule, defaults, and the schema's own shape."""

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainjob_api import openapi
from trainjob_api.celrules import is_transition_rule
from trainjob_api.contract import RESERVED_VARIABLES
from trainjob_api.names import MAX_NAME_LENGTH
from trainjob_api.schema import TRAINJOB_SCHEMA
from trainjob_api.validation import FieldError, apply_defaults, validate


def manifest(**spec: Any) -> dict[str, Any]:
    body = {"image": "example.com/train:1", "command": ["python", "train.py"], "maxEpochs": 5, **spec}
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "mnist"},
        "spec": body,
    }


def full_manifest() -> dict[str, Any]:
    """Every field set, and valid."""
    return manifest(
        imagePullPolicy="IfNotPresent",
        args=["--lr", "0.1"],
        workingDir="/work",
        numNodes=4,
        numProcPerNode=8,
        backend="nccl",
        masterPort=23456,
        resourcesPerNode={"limits": {"nvidia.com/gpu": 8, "memory": "64Gi", "cpu": "15500m"}},
        env=[
            {"name": "NCCL_DEBUG", "value": "INFO"},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        ],
        podTemplate={
            "labels": {"team": "vision", "kueue.x-k8s.io/queue-name": "gpus"},
            "annotations": {"note": "x"},
            "nodeSelector": {"gpu": "h100"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["h100"]}]}
                        ]
                    }
                }
            },
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            "priorityClassName": "high",
            "terminationGracePeriodSeconds": 120,
            "serviceAccountName": "trainer",
            "imagePullSecrets": [{"name": "registry"}],
            "securityContext": {"runAsUser": 1000, "fsGroup": 1000, "sysctls": []},
            "containerSecurityContext": {
                "readOnlyRootFilesystem": True,
                "capabilities": {"add": ["IPC_LOCK"]},
            },
        },
        runPolicy={
            "backoffLimit": 3,
            "activeDeadlineSeconds": 3600,
            "progressDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 60,
            "suspend": True,
            "cleanPodPolicy": "All",
        },
        earlyStopping={
            "monitor": "val_acc",
            "mode": "max",
            "patience": 2,
            "minDelta": 0.01,
            "stoppingThreshold": 0.99,
            "divergenceThreshold": 0.1,
        },
        checkpoint={"path": "/data/ckpt", "everyEpochs": 2, "keepLast": 5, "resume": False},
    )


def errors_at(errors: list[FieldError], path: str) -> list[str]:
    return [error.message for error in errors if error.path == path]


def with_spec(**changes: Any) -> dict[str, Any]:
    body = manifest()
    body["spec"].update(changes)
    return body


def test_minimal_and_full_manifests_are_valid():
    assert validate(manifest()) == []
    assert validate(full_manifest()) == []


def test_defaults_are_the_apiservers():
    spec = apply_defaults(manifest(earlyStopping={}, checkpoint={"path": "/ckpt"}))["spec"]
    assert spec["numNodes"] == 1
    assert spec["numProcPerNode"] == 1
    assert spec["backend"] == "auto"
    assert spec["masterPort"] == 29500
    assert spec["runPolicy"] == {"backoffLimit": 0, "suspend": False, "cleanPodPolicy": "Running"}
    assert spec["earlyStopping"] == {"monitor": "val_loss", "mode": "min", "patience": 3, "minDelta": 0}
    assert spec["checkpoint"] == {"path": "/ckpt", "everyEpochs": 1, "keepLast": 3, "resume": True}


def test_defaults_do_not_touch_set_values_or_the_input():
    original = full_manifest()
    before = copy.deepcopy(original)
    assert apply_defaults(original)["spec"] == before["spec"]
    assert original == before


def test_nulls_are_pruned_then_defaulted():
    spec = apply_defaults(manifest(numNodes=None, runPolicy=None))["spec"]
    assert spec["numNodes"] == 1
    assert spec["runPolicy"]["cleanPodPolicy"] == "Running"


def test_optional_objects_stay_absent():
    spec = apply_defaults(manifest())["spec"]
    assert "earlyStopping" not in spec
    assert "checkpoint" not in spec


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [
        ({"image": ""}, "spec.image", "must not be empty"),
        ({"command": []}, "spec.command", "must not be empty"),
        ({"command": "python train.py"}, "spec.command", "must be a list"),
        ({"numNodes": 0}, "spec.numNodes", "at least 1"),
        ({"numNodes": 1025}, "spec.numNodes", "at most 1024"),
        ({"numNodes": 1.5}, "spec.numNodes", "must be an integer"),
        ({"numNodes": True}, "spec.numNodes", "must be an integer"),
        ({"numProcPerNode": 65}, "spec.numProcPerNode", "at most 64"),
        ({"backend": "mpi"}, "spec.backend", "one of auto, nccl, gloo"),
        ({"masterPort": 80}, "spec.masterPort", "at least 1024"),
        ({"imagePullPolicy": "Sometimes"}, "spec.imagePullPolicy", "one of Always"),
        ({"maxEpochs": 0}, "spec.maxEpochs", "at least 1"),
        ({"maxEpochs": 100001}, "spec.maxEpochs", "at most 100000"),
        (
            {"resourcesPerNode": {"limits": {"memory": "lots"}}},
            "spec.resourcesPerNode.limits[memory]",
            "quantity",
        ),
        (
            {"resourcesPerNode": {"limits": {"cpu": 1.5}}},
            "spec.resourcesPerNode.limits[cpu]",
            "integer or a string",
        ),
        ({"runPolicy": {"backoffLimit": -1}}, "spec.runPolicy.backoffLimit", "at least 0"),
        ({"runPolicy": {"activeDeadlineSeconds": 0}}, "spec.runPolicy.activeDeadlineSeconds", "at least 1"),
        (
            {"runPolicy": {"ttlSecondsAfterFinished": -5}},
            "spec.runPolicy.ttlSecondsAfterFinished",
            "at least 0",
        ),
        (
            {"runPolicy": {"cleanPodPolicy": "Some"}},
            "spec.runPolicy.cleanPodPolicy",
            "one of None, Running, All",
        ),
        ({"runPolicy": {"suspend": "yes"}}, "spec.runPolicy.suspend", "true or false"),
        ({"earlyStopping": {"mode": "avg"}}, "spec.earlyStopping.mode", "one of min, max"),
        ({"earlyStopping": {"patience": -1}}, "spec.earlyStopping.patience", "at least 0"),
        ({"earlyStopping": {"minDelta": -0.1}}, "spec.earlyStopping.minDelta", "at least 0"),
        ({"checkpoint": {}}, "spec.checkpoint.path", "is required"),
        ({"checkpoint": {"path": "/c", "keepLast": 0}}, "spec.checkpoint.keepLast", "at least 1"),
        ({"checkpoint": {"path": "/c", "everyEpochs": 0}}, "spec.checkpoint.everyEpochs", "at least 1"),
        ({"env": [{"value": "x"}]}, "spec.env[0].name", "is required"),
        ({"env": [{"name": "A"}, {"name": "A"}]}, "spec.env[1]", "duplicate entry"),
        (
            {"podTemplate": {"tolerations": [{"operator": "Maybe"}]}},
            "spec.podTemplate.tolerations[0].operator",
            "one of",
        ),
        ({"podTemplate": {"volumes": [{"name": "Data"}]}}, "spec.podTemplate.volumes[0].name", "DNS label"),
        ({"podTemplate": {"labels": {"a": 1}}}, "spec.podTemplate.labels[a]", "must be a string"),
        ({"podTemplate": {"hostNetwork": True}}, "spec.podTemplate.hostNetwork", "unknown field"),
        (
            {"podTemplate": {"securityContext": {"runAsUser": -1}}},
            "spec.podTemplate.securityContext.runAsUser",
            "at least 0",
        ),
        ({"replicas": 3}, "spec.replicas", "unknown field"),
    ],
)
def test_schema_rejects(changes, path, fragment):
    errors = validate(with_spec(**changes))
    assert any(fragment in message for message in errors_at(errors, path)), errors


def test_required_fields():
    errors = validate(
        {"apiVersion": "trainjob.dev/v1alpha1", "kind": "TrainJob", "metadata": {"name": "a"}, "spec": {}}
    )
    assert {error.path for error in errors} == {"spec.image", "spec.command", ""}


def test_max_epochs_is_optional():
    body = manifest()
    del body["spec"]["maxEpochs"]
    assert validate(body) == []
    assert errors_at(validate({**manifest(), "spec": None}), "spec") == ["is required"]


def test_identity_is_checked():
    body = manifest()
    body.update(apiVersion="v1", kind="Job", metadata={"labels": {"a": 1}})
    paths = {error.path for error in validate(body)}
    assert {"apiVersion", "kind", "metadata.name", "metadata.labels"} <= paths
    assert validate({**manifest(), "metadata": {"generateName": "mnist-"}}) == []
    assert [str(error) for error in validate([])] == ["a TrainJob manifest must be a mapping"]  # type: ignore[arg-type]


def test_status_written_by_operator_and_reporter_is_valid():
    body = manifest()
    body["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "Running", "message": "m",
                        "lastTransitionTime": "2024-05-01T12:00:00Z", "observedGeneration": 1}],
        "observedGeneration": 1,
        "startTime": "2024-05-01T12:00:00Z",
        "restarts": 1,
        "workers": {"active": 2, "succeeded": 0, "failed": 0, "total": 2},
        "failure": {"worker": 1, "pod": "mnist-1-abcde", "exitCode": 137, "reason": "OOMKilled",
                    "message": "m"},
        "progress": {"epoch": 2, "totalEpochs": 5, "step": 10, "totalSteps": 100, "percent": 21.5,
                     "etaSeconds": 30, "samplesPerSecond": 1000.5, "lastUpdateTime": "2024-05-01T12:01:00Z"},
        "metrics": {"loss": 0.5, "valLoss": 0.6, "lr": 0.1, "values": {"acc": 0.9, "epoch": 2},
                    "best": 0.6, "bestEpoch": 1, "monitor": "val_loss"},
        "earlyStopping": {"triggered": False, "reason": "", "message": "", "epoch": 2, "best": 0.6,
                          "wait": 1, "patience": 3},
        "checkpoint": {"path": "/ckpt/epoch-2.pt", "epoch": 2},
        "stoppedOnRequest": False,
    }  # fmt: skip
    assert validate(body) == []


@pytest.mark.parametrize(
    ("status", "path"),
    [
        ({"phase": "Exploded"}, "status.phase"),
        ({"startTime": "yesterday"}, "status.startTime"),
        ({"conditions": [{"type": "Ready", "status": "Maybe"}]}, "status.conditions[0].status"),
        ({"conditions": [{"type": "Ready", "status": "True"}, {"type": "Ready", "status": "False"}]},
         "status.conditions[1]"),
        ({"progress": {"percent": "half"}}, "status.progress.percent"),
        ({"metrics": {"values": {"acc": {"nested": 1}}}}, "status.metrics.values[acc]"),
    ],
)  # fmt: skip
def test_status_rejects(status, path):
    assert errors_at(validate({**manifest(), "status": status}), path)


# --- CEL rules: one valid and one invalid example each ---------------------------------------------------


@pytest.mark.parametrize("name", ["a", "mnist", "resnet-50-imagenet", "x" * MAX_NAME_LENGTH])
def test_name_rule_accepts(name):
    assert validate({**manifest(), "metadata": {"name": name}}) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("x" * (MAX_NAME_LENGTH + 1), f"at most {MAX_NAME_LENGTH} characters"),
        ("1st-run", "start with a letter"),
        ("my.job", "start with a letter"),
        ("Mnist", "start with a letter"),
        ("mnist-", "start with a letter"),
    ],
)
def test_name_rule_rejects(name, fragment):
    messages = errors_at(validate({**manifest(), "metadata": {"name": name}}), "metadata.name")
    assert any(fragment in message for message in messages), messages


@pytest.mark.parametrize("variable", RESERVED_VARIABLES)
def test_reserved_variables_cannot_be_set(variable):
    errors = validate(manifest(env=[{"name": "OK", "value": "1"}, {"name": variable, "value": "x"}]))
    assert errors_at(errors, "spec.env[1].name") == [
        f"the variable {variable} is set by trainjob (the environment contract) and cannot be overridden"
    ]


@pytest.mark.parametrize("variable", ["PET_RDZV_ENDPOINT", "PET_STANDALONE", "PET_MAX_RESTARTS"])
def test_torchrun_options_cannot_be_set(variable):
    [message] = errors_at(validate(manifest(env=[{"name": variable, "value": "x"}])), "spec.env[0].name")
    assert message.startswith("PET_* variables are torchrun's options")


@pytest.mark.parametrize(
    ("name", "valid"), [("A_B", True), ("a.b-c d", True), ("A=B", False), ("A\nB", False)]
)
def test_env_names_are_printable_ascii_without_equals(name, valid):
    errors = errors_at(validate(manifest(env=[{"name": name, "value": "x"}])), "spec.env[0].name")
    assert (errors == []) is valid, errors


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("python", True),
        ("ghcr.io/trainjob/trainer:0.1.0", True),
        ("localhost:5000/a/b_c__d-e", True),
        ("Registry.Example.COM/team/train@sha256:" + "a" * 64, True),
        ("registry.example.com/team/train:1.0@sha256:" + "0" * 64, True),
        (" python", False),
        ("ghcr.io/a b:1", False),
        ("ghcr.io/Team/Train:1", False),
        ("python:", False),
        ("python;rm -rf /", False),
    ],
)
def test_image_must_be_a_reference(image, valid):
    assert (errors_at(validate(manifest(image=image)), "spec.image") == []) is valid


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ({"labels": {"team": "has space"}}, "spec.podTemplate.labels[team]"),
        ({"labels": {"bad key": "x"}}, "spec.podTemplate.labels"),
        ({"annotations": {"/no-prefix": "x"}}, "spec.podTemplate.annotations"),
        ({"nodeSelector": {"gpu": "x" * 64}}, "spec.podTemplate.nodeSelector[gpu]"),
        ({"serviceAccountName": "Bad_Name"}, "spec.podTemplate.serviceAccountName"),
        ({"priorityClassName": "high priority"}, "spec.podTemplate.priorityClassName"),
    ],
)
def test_pod_metadata_and_names_follow_the_apiservers_rules(template, path):
    assert errors_at(validate(manifest(podTemplate=template)), path)


def test_metadata_follows_the_apiservers_rules():
    body = manifest()
    body["metadata"] |= {"labels": {"ok": "yes", "bad key": "v"}, "annotations": {"big": "x" * 300_000}}
    paths = {error.path for error in validate(body)}
    assert paths == {"metadata.labels[bad key]", "metadata.annotations"}


def test_integers_beyond_int64_are_refused_not_crashed_on():
    errors = validate(manifest(numNodes=2**70))
    assert errors_at(errors, "spec.numNodes") == [f"must be a 64-bit integer (got {2**70})"]


def test_unknown_fields_are_refused_at_any_depth():
    deep: dict[str, Any] = {}
    for _ in range(50):
        deep = {"n": deep}
    errors = validate(manifest(podTemplate={"affinity": {"nodeAffinity": deep}}))
    assert [error.path for error in errors] == ["spec.podTemplate.affinity.nodeAffinity.n"]


@pytest.mark.parametrize(
    ("mode", "stopping", "divergence", "valid"),
    [
        ("min", 0.1, 5.0, True),
        ("min", 0.1, 0.05, False),
        ("min", 1, 1, False),
        ("max", 0.99, 0.1, True),
        ("max", 0.9, 0.95, False),
        ("min", 0.1, None, True),
        ("max", None, 3, True),
    ],
)
def test_threshold_order_rule(mode, stopping, divergence, valid):
    early = {"mode": mode, "stoppingThreshold": stopping, "divergenceThreshold": divergence}
    errors = validate(
        manifest(earlyStopping={key: value for key, value in early.items() if value is not None})
    )
    messages = errors_at(errors, "spec.earlyStopping.divergenceThreshold")
    assert (messages == []) is valid, errors


def test_threshold_rule_defaults_mode_to_min():
    assert validate(manifest(earlyStopping={"stoppingThreshold": 1, "divergenceThreshold": 2})) == []
    assert validate(manifest(earlyStopping={"stoppingThreshold": 2, "divergenceThreshold": 1}))


def test_operator_labels_are_reserved():
    assert validate(manifest(podTemplate={"labels": {"team": "a"}})) == []
    errors = validate(manifest(podTemplate={"labels": {"trainjob.dev/name": "other"}}))
    assert errors_at(errors, "spec.podTemplate.labels") == [
        "labels with the trainjob.dev/ prefix are set by the operator"
    ]


def test_volume_mounts_need_volumes():
    mounts = [{"name": "data", "mountPath": "/data"}]
    assert (
        validate(
            manifest(podTemplate={"volumeMounts": mounts, "volumes": [{"name": "data", "emptyDir": {}}]})
        )
        == []
    )
    for template in ({"volumeMounts": mounts}, {"volumeMounts": mounts, "volumes": [{"name": "other"}]}):
        errors = validate(manifest(podTemplate=template))
        assert errors_at(errors, "spec.podTemplate.volumeMounts") == [
            "every volumeMount must name a volume in podTemplate.volumes"
        ]


@pytest.mark.parametrize(
    ("field", "new_value"),
    [("image", "example.com/train:2"), ("command", ["python", "other.py"]), ("numNodes", 2),
     ("numProcPerNode", 2), ("backend", "gloo")],
)  # fmt: skip
def test_immutable_once_started(field, new_value):
    old = manifest()
    new = with_spec(**{field: new_value})
    assert validate(new, old) == [], "may change before the job has any status"
    assert validate(new, {**old, "status": {"phase": "Created"}}) == [], (
        "may change until the workers started"
    )
    errors = validate(new, {**old, "status": {"phase": "Running", "startTime": "2024-05-01T12:00:00Z"}})
    assert errors_at(errors, f"spec.{field}") == [
        f"spec.{field} cannot change while the workers run (status.startTime is set): "
        "suspend the job first, or create a new TrainJob"
    ]


def test_mutable_fields_change_after_start():
    old = {**manifest(), "status": {"startTime": "2024-05-01T12:00:00Z"}}
    new = with_spec(
        runPolicy={"suspend": True, "backoffLimit": 5}, env=[{"name": "A", "value": "1"}], maxEpochs=9
    )
    assert validate(new, old) == []


def test_unchanged_defaulted_fields_are_not_changes():
    old = {**with_spec(backend="auto", numNodes=1), "status": {"startTime": "2024-05-01T12:00:00Z"}}
    assert validate(manifest(), old) == []


def test_transition_rules_are_skipped_for_new_objects():
    assert any(is_transition_rule(rule) for rule in TRAINJOB_SCHEMA[openapi.VALIDATIONS])
    assert validate(with_spec(image="other")) == []


@pytest.mark.parametrize(
    "spec",
    [{"backend": "mpi", "env": [{"name": "RANK"}]}, {"checkpoint": {}, "env": [{"name": "RANK"}]}],
)
def test_enum_and_required_errors_skip_rules_too(spec):
    errors = validate(manifest(**spec))
    assert errors[-1].message == "the validation rules were not checked: fix the errors above first"
    assert not errors_at(errors, "spec.env[0].name")


def test_type_errors_skip_rules_like_the_apiserver():
    errors = validate(manifest(numNodes="two", env=[{"name": "RANK"}]))
    assert errors_at(errors, "spec.numNodes") == ["must be an integer (got string)"]
    assert errors_at(errors, "") == ["the validation rules were not checked: fix the errors above first"]
    assert not errors_at(errors, "spec.env[0].name")


# --- the schema itself, as the apiserver checks a CRD ----------------------------------------------------


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    nodes = [(path, schema)]
    for key, child in schema.get("properties", {}).items():
        nodes += walk(child, f"{path}.{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}[*]")
    if "items" in schema:
        nodes += walk(schema["items"], f"{path}[]")
    return nodes


def test_every_field_is_documented_and_structural():
    for path, node in walk(TRAINJOB_SCHEMA):
        # The items of a list and the values of a map are described by the list or map.
        is_value_schema = path.endswith(("[*]", "[]")) and "properties" not in node
        undescribable = path == ".metadata"  # the apiserver forbids it
        assert is_value_schema or undescribable or node.get("description"), f"{path} has no description"
        assert "type" in node or node.get(openapi.INT_OR_STRING), f"{path} has no type"


def test_defaults_are_valid_for_their_fields():
    for path, node in walk(TRAINJOB_SCHEMA):
        if "default" in node:
            from trainjob_api.structural import check_node

            assert check_node(node["default"], node, path) == [], path


def test_list_map_keys_are_required():
    for path, node in walk(TRAINJOB_SCHEMA):
        if node.get(openapi.LIST_TYPE) == "map":
            required = set(node["items"].get("required", ()))
            assert set(node[openapi.LIST_MAP_KEYS]) <= required, path


def test_every_rule_has_a_message():
    for path, node in walk(TRAINJOB_SCHEMA):
        for rule in node.get(openapi.VALIDATIONS, ()):
            assert rule.get("message"), f"{path}: {rule['rule']}"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
spec_fields = st.sampled_from(sorted(TRAINJOB_SCHEMA["properties"]["spec"]["properties"]))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(spec_fields, json_values, max_size=5))
def test_validate_never_crashes_and_defaults_are_idempotent(changes):
    body = with_spec(**changes)
    assert all(isinstance(error, FieldError) for error in validate(body))
    once = apply_defaults(body)
    assert apply_defaults(once) == once
