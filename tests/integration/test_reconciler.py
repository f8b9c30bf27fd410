"""The Reconciler against the real apiserver: which Job events are news (resourceVersions are real)."""

from __future__ import annotations

import time

import kubernetes.client
import kubernetes.config
import pytest

from tests.cluster import ControlPlane
from tests.e2e.support import TRAINJOBS, install_crd, pending_manifest
from trainjob_api.names import GROUP, PLURAL, VERSION
from trainjob_operator.kube import PODS, KubeApi, Resource
from trainjob_operator.kube import TRAINJOBS as TRAINJOB_RESOURCE
from trainjob_operator.metrics import Metrics
from trainjob_operator.reconciler import Reconciler

pytestmark = pytest.mark.integration


def api_for(cp: ControlPlane) -> KubeApi:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(cp.kubeconfig), client_configuration=configuration)
    return KubeApi(kubernetes.client.ApiClient(configuration))


def reconciler_for(cp: ControlPlane) -> Reconciler:
    return Reconciler(api_for(cp), lambda *_: None, Metrics())


def settled_job(cp: ControlPlane, namespace: str, name: str, workers: int) -> dict:
    """The Job once the Job controller counts its (unschedulable) pods as active and leaves it be."""
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"
    deadline = time.monotonic() + 60
    previous = None
    while True:
        job = cp.admin.get(path)
        if (job.get("status") or {}).get("active") == workers:
            if previous == job["metadata"]["resourceVersion"]:
                return job
            previous = job["metadata"]["resourceVersion"]
        assert time.monotonic() < deadline, f"the Job did not settle: {job.get('status')}"
        time.sleep(1.0)


def job_events(cp: ControlPlane, namespace: str, since: str, until: str) -> list[dict]:
    """The Job watch events of `namespace` from resourceVersion `since` up to version `until`."""
    events = []
    for event in cp.admin.watch(f"/apis/batch/v1/namespaces/{namespace}/jobs", since, timeout_seconds=5):
        if event["type"] != "BOOKMARK":
            events.append(event)
        if event["object"]["metadata"]["resourceVersion"] == until:
            break
    return events


@pytest.mark.asyncio
async def test_a_job_event_is_news_only_for_a_version_no_reconcile_saw_or_wrote(
    control_plane: ControlPlane, namespace: str
) -> None:
    install_crd(control_plane)
    control_plane.admin.create(TRAINJOBS.format(namespace=namespace), pending_manifest(namespace, "news"))
    before = control_plane.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["metadata"]
    reconciler = reconciler_for(control_plane)
    await reconciler.reconcile(namespace, "news")
    counted = settled_job(control_plane, namespace, "news", 2)
    added, *changes = job_events(
        control_plane, namespace, before["resourceVersion"], counted["metadata"]["resourceVersion"]
    )
    assert added["type"] == "ADDED" and changes and changes[-1]["object"] == counted
    assert not reconciler.is_news(namespace, "news", added["object"]), "the Job it just created"
    assert reconciler.is_news(namespace, "news", counted), "the Job controller changed it since"
    await reconciler.reconcile(namespace, "news")
    assert not reconciler.is_news(namespace, "news", counted), "the last reconcile read it"
    assert reconciler.is_news(namespace, "other", counted), "another TrainJob's Job"


@pytest.mark.asyncio
async def test_discovery_tells_whether_the_trainjob_crd_is_served(control_plane: ControlPlane) -> None:
    install_crd(control_plane)
    api = api_for(control_plane)
    assert await api.serves(TRAINJOB_RESOURCE)
    assert await api.serves(PODS)
    assert not await api.serves(Resource(GROUP, "v9", PLURAL)), "a version the CRD does not serve"
    assert not await api.serves(Resource("absent.example.com", "v1", "things")), "a group nobody serves"
    assert not await api.serves(Resource(GROUP, VERSION, "nothings")), "a served group without it"
