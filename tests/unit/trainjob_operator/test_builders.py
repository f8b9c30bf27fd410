"""The builders: the environment contract in the pod, podTemplate merge, secure defaults, RBAC, names."""

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainjob_api.contract import RESERVED_VARIABLES, WORKER_ENV_DEFAULTS, WorkerEnvironment
from trainjob_api.names import MAX_NAME_LENGTH, MAX_NODES, master_address, pod_hostname, service_name
from trainjob_operator.builders.children import children
from trainjob_operator.builders.environment import resolve_backend
from trainjob_operator.builders.history import history_config_map
from trainjob_operator.builders.job import desired_template_hash, worker_job
from trainjob_operator.builders.pod import PASSED_THROUGH, merge, pod_template
from trainjob_operator.builders.rbac import role, role_binding, service_account
from trainjob_operator.builders.service import headless_service

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def container(trainjob, attempt=0):
    return pod_template(trainjob, attempt)["spec"]["containers"][0]


def env_of(trainjob):
    return {
        variable["name"]: variable.get("value", variable.get("valueFrom"))
        for variable in container(trainjob)["env"]
    }


def pod_environment(trainjob, index):
    """The environment a worker process sees: literals plus the downward API resolved for `index`."""
    return {
        variable["name"]: variable["value"] if "value" in variable else str(index)
        for variable in container(trainjob)["env"]
    }


def test_environment_contract(trainjob_factory):
    trainjob = trainjob_factory(
        numNodes=4, masterPort=23456, earlyStopping={"patience": 5}, checkpoint={"path": "/c"}
    )
    env = env_of(trainjob)
    assert env["MASTER_ADDR"] == env["PET_MASTER_ADDR"] == "mnist-0.mnist-workers.ml.svc"
    assert env["MASTER_PORT"] == env["PET_MASTER_PORT"] == "23456"
    assert env["WORLD_SIZE"] == "4"
    assert env["NNODES"] == env["PET_NNODES"] == "4"
    assert env["NPROC_PER_NODE"] == env["PET_NPROC_PER_NODE"] == "1"
    assert (env["TRAINJOB_NAME"], env["TRAINJOB_NAMESPACE"], env["TRAINJOB_UID"]) == ("mnist", "ml", "uid-1")
    assert env["TRAINJOB_BACKEND"] == "gloo"
    for name in ("NODE_RANK", "PET_NODE_RANK", "RANK"):
        assert env[name] == {"fieldRef": {"fieldPath": INDEX_FIELD}}
    assert env["LOCAL_RANK"] == "0"
    config = json.loads(env["TRAINJOB_CONFIG"])
    assert config["maxEpochs"] == 3
    assert config["earlyStopping"]["patience"] == 5
    assert config["checkpoint"] == {"path": "/c", "everyEpochs": 1, "keepLast": 3, "resume": True}


def test_the_trainer_reads_the_pods_environment(trainjob_factory):
    trainjob = trainjob_factory(numNodes=3)
    worker = WorkerEnvironment.from_environ(pod_environment(trainjob, 2))
    assert (worker.rank, worker.node_rank, worker.world_size, worker.nnodes) == (2, 2, 3, 3)
    assert worker.master_addr == "mnist-0.mnist-workers.ml.svc"
    assert worker.job is not None and worker.job.name == "mnist"
    assert worker.config["maxEpochs"] == 3


def test_several_processes_per_node_use_the_launcher(trainjob_factory):
    trainjob = trainjob_factory(
        numNodes=2, numProcPerNode=4, resourcesPerNode={"limits": {"nvidia.com/gpu": 4}}
    )
    env = env_of(trainjob)
    assert "RANK" not in env and "LOCAL_RANK" not in env, "the launcher sets them per process"
    assert env["NODE_RANK"] == {"fieldRef": {"fieldPath": INDEX_FIELD}}
    assert env["WORLD_SIZE"] == "8"
    assert env["TRAINJOB_BACKEND"] == "nccl"
    assert container(trainjob)["command"] == ["python", "-m", "trainjob.launch", "--", "python", "train.py"]
    torchrun = trainjob_factory(numProcPerNode=4, command=["torchrun", "train.py"], args=["--x"])
    assert (container(torchrun)["command"], container(torchrun)["args"]) == (
        ["torchrun", "train.py"],
        ["--x"],
    )


def test_user_env_comes_after_the_contract(trainjob_factory):
    trainjob = trainjob_factory(env=[{"name": "URL", "value": "tcp://$(MASTER_ADDR)"}])
    names = [variable["name"] for variable in container(trainjob)["env"]]
    assert names[-1] == "URL"
    assert set(names[:-1]) <= set(RESERVED_VARIABLES) | set(WORKER_ENV_DEFAULTS)


def test_workers_get_python_defaults_the_user_may_override(trainjob_factory):
    env = env_of(trainjob_factory())
    assert (env["PYTHONUNBUFFERED"], env["PYTHONFAULTHANDLER"]) == ("1", "1")
    overridden = trainjob_factory(env=[{"name": "PYTHONFAULTHANDLER", "value": ""}])
    names = [variable["name"] for variable in container(overridden)["env"]]
    assert names.count("PYTHONFAULTHANDLER") == 1 and env_of(overridden)["PYTHONFAULTHANDLER"] == ""


@pytest.mark.parametrize(
    ("spec", "backend"),
    [
        ({}, "gloo"),
        ({"backend": "nccl"}, "nccl"),
        ({"backend": "gloo", "resourcesPerNode": {"limits": {"nvidia.com/gpu": 1}}}, "gloo"),
        ({"resourcesPerNode": {"limits": {"nvidia.com/gpu": 2}}}, "nccl"),
        ({"resourcesPerNode": {"requests": {"nvidia.com/gpu": "1"}}}, "nccl"),
        ({"resourcesPerNode": {"limits": {"nvidia.com/gpu": 0, "cpu": 4}}}, "gloo"),
    ],
)
def test_resolve_backend(spec, backend):
    assert resolve_backend({"backend": "auto", **spec}) == backend


def test_secure_defaults(trainjob_factory):
    template = pod_template(trainjob_factory(), 0)
    assert template["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(trainjob_factory())["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert template["spec"]["restartPolicy"] == "Never"
    assert template["spec"]["automountServiceAccountToken"] is True


def test_user_security_contexts_merge_over_the_defaults(trainjob_factory):
    trainjob = trainjob_factory(
        podTemplate={
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": False},
            "containerSecurityContext": {
                "capabilities": {"add": ["IPC_LOCK"]},
                "readOnlyRootFilesystem": True,
            },
        }
    )
    assert pod_template(trainjob, 0)["spec"]["securityContext"] == {
        "runAsNonRoot": False,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container(trainjob)["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["IPC_LOCK"]},
        "readOnlyRootFilesystem": True,
    }
    privileged = trainjob_factory(podTemplate={"containerSecurityContext": {"privileged": True}})
    assert "allowPrivilegeEscalation" not in container(privileged)["securityContext"]


@pytest.mark.parametrize("drop", [[], ["NET_RAW"], ["ALL", "NET_RAW"]])
def test_every_capability_stays_dropped_whatever_the_user_drops(trainjob_factory, drop):
    trainjob = trainjob_factory(podTemplate={"containerSecurityContext": {"capabilities": {"drop": drop}}})
    assert (
        container(trainjob)["securityContext"]["capabilities"]["drop"] == ["ALL", "NET_RAW"][: 1 + bool(drop)]
    )


def test_the_defaults_meet_the_restricted_pod_security_standard(trainjob_factory):
    """The checks of the restricted profile that depend on the pod template (pod-security-admission)."""
    spec = pod_template(trainjob_factory(numProcPerNode=4), 0)["spec"]
    assert not {"hostNetwork", "hostPID", "hostIPC", "volumes"} & set(spec)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    [worker] = spec["containers"]
    context = worker["securityContext"]
    assert context["allowPrivilegeEscalation"] is False and not context.get("privileged")
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert all("hostPort" not in port for port in worker["ports"])


def test_merge():
    assert merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]}) == {
        "a": {"b": 1, "c": 3},
        "d": [2],
    }


def test_pod_template_keeps_everything_the_user_gave(trainjob_factory):
    user = {
        "labels": {"team": "vision"},
        "annotations": {"sidecar.istio.io/inject": "false"},
        "nodeSelector": {"gpu": "h100"},
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {"x": 1}},
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "priorityClassName": "high",
        "terminationGracePeriodSeconds": 120,
        "imagePullSecrets": [{"name": "registry"}],
    }
    trainjob = trainjob_factory(
        podTemplate=user,
        imagePullPolicy="Always",
        workingDir="/w",
        resourcesPerNode={"limits": {"cpu": 2}},
    )
    template = pod_template(trainjob, 3)
    assert template["metadata"]["labels"] == {
        "team": "vision",
        "trainjob.dev/name": "mnist",
        "trainjob.dev/attempt": "3",
    }
    assert template["metadata"]["annotations"] == user["annotations"]
    for key in PASSED_THROUGH:
        assert template["spec"][key] == user[key]
    worker = container(trainjob)
    assert worker["volumeMounts"] == user["volumeMounts"]
    assert (worker["imagePullPolicy"], worker["workingDir"], worker["resources"]) == (
        "Always",
        "/w",
        {"limits": {"cpu": 2}},
    )
    assert template["spec"]["subdomain"] == "mnist-workers"
    assert worker["ports"] == [{"name": "rendezvous", "containerPort": 29500, "protocol": "TCP"}]


def test_indexed_job(trainjob_factory):
    trainjob = trainjob_factory(numNodes=3, labels={"kueue.x-k8s.io/priority-class": "p", "other": "x"})
    job = worker_job(trainjob, 2, deadline_seconds=50)
    assert job["metadata"]["name"] == "mnist"
    assert job["metadata"]["labels"]["trainjob.dev/attempt"] == "2"
    assert job["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] == "p"
    assert "other" not in job["metadata"]["labels"]
    assert job["spec"] | {"template": None} == {
        "completions": 3,
        "parallelism": 3,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "suspend": False,
        "activeDeadlineSeconds": 50,
        "template": None,
    }
    assert job["metadata"]["annotations"] == {
        "trainjob.dev/template-hash": desired_template_hash(trainjob, 2),
        "trainjob.dev/suspend": "false",
    }


def test_template_hash_follows_the_spec(trainjob_factory):
    assert desired_template_hash(trainjob_factory(), 0) == desired_template_hash(trainjob_factory(), 0)
    assert desired_template_hash(trainjob_factory(), 0) != desired_template_hash(
        trainjob_factory(image="other"), 0
    )
    assert desired_template_hash(trainjob_factory(), 0) != desired_template_hash(
        trainjob_factory(numNodes=2), 0
    )
    suspended = trainjob_factory(runPolicy={"suspend": True, "activeDeadlineSeconds": 5})
    assert desired_template_hash(suspended, 0) == desired_template_hash(trainjob_factory(), 0)


def test_headless_service(trainjob_factory):
    service = headless_service(trainjob_factory(masterPort=30000))
    assert service["metadata"]["name"] == "mnist-workers"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {"trainjob.dev/name": "mnist"}
    assert service["spec"]["ports"][0]["port"] == 30000


def test_reporter_rbac_is_limited_to_this_job(trainjob_factory):
    trainjob = trainjob_factory()
    assert role(trainjob)["rules"] == [
        {
            "apiGroups": ["trainjob.dev"],
            "resources": ["trainjobs/status"],
            "resourceNames": ["mnist"],
            "verbs": ["get", "patch"],
        },
        {
            "apiGroups": ["trainjob.dev"],
            "resources": ["trainjobs"],
            "resourceNames": ["mnist"],
            "verbs": ["get", "watch"],
        },
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["mnist-history"],
            "verbs": ["get", "patch"],
        },
    ]
    assert service_account(trainjob)["metadata"]["name"] == "mnist-reporter"
    binding = role_binding(trainjob)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "mnist-reporter",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "mnist-reporter", "namespace": "ml"}]
    assert pod_template(trainjob, 0)["spec"]["serviceAccountName"] == "mnist-reporter"


def test_a_users_service_account_gets_the_reporters_role(trainjob_factory):
    trainjob = trainjob_factory(podTemplate={"serviceAccountName": "trainer"})
    assert pod_template(trainjob, 0)["spec"]["serviceAccountName"] == "trainer"
    assert [subject["name"] for subject in role_binding(trainjob)["subjects"]] == [
        "mnist-reporter",
        "trainer",
    ]


def test_every_child_is_owned_and_labelled(trainjob_factory):
    for child in children(trainjob_factory(), 0):
        metadata = child["metadata"]
        assert metadata["namespace"] == "ml"
        assert metadata["labels"]["trainjob.dev/name"] == "mnist"
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "trainjob-operator"
        assert metadata["ownerReferences"] == [
            {"apiVersion": "trainjob.dev/v1alpha1", "kind": "TrainJob", "name": "mnist", "uid": "uid-1",
             "controller": True, "blockOwnerDeletion": True}
        ]  # fmt: skip


names = st.from_regex(rf"\A[a-z]([-a-z0-9]{{0,{MAX_NAME_LENGTH - 2}}}[a-z0-9])?\Z", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(names)
def test_every_valid_name_gives_valid_child_names(name):
    assert len(name) <= MAX_NAME_LENGTH
    for label in (service_name(name), pod_hostname(name, MAX_NODES - 1)):
        assert DNS_LABEL.match(label) and len(label) <= 63, label
    assert master_address(name, "ns").startswith(f"{name}-0.{name}-workers.")


def test_the_history_config_map_is_empty_and_owned_by_the_trainjob(trainjob_factory):
    trainjob = trainjob_factory()
    config_map = history_config_map(trainjob)
    assert config_map["metadata"]["name"] == "mnist-history"
    assert config_map["metadata"]["ownerReferences"][0]["uid"] == trainjob["metadata"]["uid"]
    assert config_map["data"] == {"history.json": ""}
