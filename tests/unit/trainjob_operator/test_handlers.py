"""The whole operator (kopf, handlers, settings, login, metrics) against kmock's emulated API."""

import asyncio
import contextlib
import socket
import threading

import aiohttp
import kmock as km
import kopf
import kubernetes.config.kube_config
import pytest
import yaml

from trainjob_operator.config import OperatorConfig
from trainjob_operator.runtime import operator_arguments

TRAINJOBS = "trainjob.dev/v1alpha1/trainjobs"
JOBS = "batch/v1/jobs"
VERBS = {"get", "list", "watch", "create", "patch", "update", "delete"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def kubeconfig(kmock, tmp_path, monkeypatch):
    server = str(kmock.url).rstrip("/")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": server}}],
        "users": [{"name": "kmock", "user": {"token": "test"}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
        "current-context": "kmock",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(kubernetes.config.kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kmock.resources[TRAINJOBS] = km.ResourceInfo(
        kind="TrainJob", namespaced=True, subresources={"status"}, verbs=VERBS
    )
    for resource, kind in [(JOBS, "Job"), ("v1/pods", "Pod"), ("v1/services", "Service"),
                           ("v1/serviceaccounts", "ServiceAccount"), ("v1/events", "Event"),
                           ("v1/configmaps", "ConfigMap"),
                           ("rbac.authorization.k8s.io/v1/roles", "Role"),
                           ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding")]:  # fmt: skip
        kmock.resources[resource] = km.ResourceInfo(kind=kind, namespaced=True, verbs=VERBS)
    kmock.resources["v1/namespaces"] = km.ResourceInfo(kind="Namespace", namespaced=False, verbs=VERBS)
    crds = "apiextensions.k8s.io/v1/customresourcedefinitions"
    kmock.resources[crds] = km.ResourceInfo(kind="CustomResourceDefinition", namespaced=False, verbs=VERBS)
    return path


async def wait_until(check, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        with contextlib.suppress(KeyError, TypeError, AssertionError):
            if result := check():
                return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_the_operator_creates_the_workers_and_serves_metrics(kmock, kubeconfig):
    port = free_port()
    config = OperatorConfig(
        metrics_port=port, metrics_host="127.0.0.1", liveness_endpoint=None, resync_seconds=1
    )
    # The operator runs in a thread with its own event loop, as in production: kopf then does not
    # mistake kmock's server-side watch streams for its own hung tasks on exit.
    stop = threading.Event()
    arguments = operator_arguments(config)
    operator = asyncio.create_task(asyncio.to_thread(asyncio.run, kopf.operator(**arguments, stop_flag=stop)))
    try:
        kmock.objects[TRAINJOBS, "ml", "mnist"] = {
            "apiVersion": "trainjob.dev/v1alpha1",
            "kind": "TrainJob",
            "metadata": {"name": "mnist", "namespace": "ml", "uid": "uid-1", "generation": 1},
            "spec": {"image": "example.com/train:1", "command": ["python", "train.py"], "maxEpochs": 2},
        }
        job = await wait_until(lambda: kmock.objects[JOBS, "ml", "mnist"].raw)
        assert job["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
        status = await wait_until(lambda: kmock.objects[TRAINJOBS, "ml", "mnist"].raw["status"])
        assert status["phase"] == "Created"
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            text = await response.text()
        assert "trainjob_operator_reconciles_total" in text
        assert 'trainjob_operator_transitions_total{phase="Created",reason="WorkersCreated"} 1' in text
    finally:
        stop.set()
        await asyncio.wait_for(operator, timeout=15)
