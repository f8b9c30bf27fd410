"""The Reconciler with a watch cache, against the real apiserver: never acting on a cache behind its writes.

The cache's indexes are filled here from real lists of the apiserver, when the test says so: a
watch that lags as long as it likes. Right after the reconciler's own create, patch or delete,
the next reconcile must read fresh (and repeat nothing); once the index has caught up, it serves
the Job and the pods without reads.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes.client
import kubernetes.config
import pytest
from kubernetes.client.exceptions import ApiException

from tests.cluster import ApiError, ControlPlane
from tests.e2e.support import TRAINJOBS, install_crd, pending_manifest
from trainjob_operator.kube import JOBS, KubeApi, PodList, Resource
from trainjob_operator.metrics import Metrics
from trainjob_operator.planner import Event
from trainjob_operator.reconciler import Reconciler
from trainjob_operator.watch_cache import Key, WatchCache, job_entry, pod_entry, trainjob_entry

pytestmark = pytest.mark.integration


class CountingApi(KubeApi):
    """The real client, counting the requests the reconciler makes by (verb, resource)."""

    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        super().__init__(client)
        self.calls: Counter[tuple[str, str]] = Counter()

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        self.calls["get", resource.plural] += 1
        return await super().get(resource, namespace, name)

    async def list_pods(self, namespace: str, label_selector: str) -> PodList:
        self.calls["list", "pods"] += 1
        return await super().list_pods(namespace, label_selector)

    async def create(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        self.calls["create", body["kind"]] += 1
        return await super().create(body)

    async def patch(
        self, resource: Resource, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.calls["patch", resource.plural] += 1
        return await super().patch(resource, namespace, name, patch)

    async def delete(self, resource: Resource, namespace: str, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls["delete", resource.plural] += 1
        await super().delete(resource, namespace, name, *args, **kwargs)


class Indexes:
    """Indexes like the operator's kopf indexes, filled from the apiserver only by `catch_up`."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.cp, self.namespace = cp, namespace
        self.trainjobs: dict[Key, list[dict[str, Any]]] = {}
        self.jobs: dict[Key, list[dict[str, Any]]] = {}
        self.pods: dict[Key, list[dict[str, Any]]] = {}

    def catch_up(self, *only: str) -> None:
        """What the watches (all, or those of the kinds named) show once they brought every event so far."""
        children = {"labelSelector": "trainjob.dev/name"}
        for kind, index, path, query, entry in (
            ("trainjobs", self.trainjobs, TRAINJOBS.format(namespace=self.namespace), {}, trainjob_entry),
            ("jobs", self.jobs, f"/apis/batch/v1/namespaces/{self.namespace}/jobs", children, job_entry),
            ("pods", self.pods, f"/api/v1/namespaces/{self.namespace}/pods", children, pod_entry),
        ):
            if only and kind not in only:
                continue
            index.clear()
            for item in self.cp.admin.get(path, **query)["items"]:
                for key, snapshot in entry(item).items():
                    index.setdefault(key, []).append(snapshot)


def api_for(cp: ControlPlane) -> CountingApi:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(cp.kubeconfig), client_configuration=configuration)
    return CountingApi(kubernetes.client.ApiClient(configuration))


def create_trainjob(cp: ControlPlane, namespace: str, name: str) -> None:
    cp.admin.create(TRAINJOBS.format(namespace=namespace), pending_manifest(namespace, name, "trainer:1"))


def job_of(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return cp.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Wait up to a minute for `check` to hold."""
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.5)


def suspended(cp: ControlPlane, namespace: str, name: str) -> bool:
    """Whether the Job controller suspended the Job: its pods gone, its Suspended condition set."""
    pods = cp.admin.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"trainjob.dev/name={name}")
    conditions = (job_of(cp, namespace, name).get("status") or {}).get("conditions") or []
    return not pods["items"] and any(c["type"] == "Suspended" and c["status"] == "True" for c in conditions)


def replaced(cp: ControlPlane, namespace: str, name: str, uid: str) -> bool:
    """Whether the Job `uid` is gone (a foreground deletion ends once its pods are gone)."""
    try:
        return job_of(cp, namespace, name)["metadata"]["uid"] != uid
    except ApiError as error:
        if error.status == 404:
            return True
        raise


def status_of(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/{name}").get("status") or {}


@pytest.fixture
def events() -> list[Event]:
    """The Events the reconciler posts."""
    return []


@pytest.fixture
def setup(
    control_plane: ControlPlane, namespace: str, events: list[Event]
) -> tuple[CountingApi, Indexes, Reconciler]:
    install_crd(control_plane)
    api, indexes = api_for(control_plane), Indexes(control_plane, namespace)
    cache = WatchCache(indexes.jobs, indexes.pods, indexes.trainjobs)
    reconciler = Reconciler(api, lambda _, event: events.append(event), Metrics(), cache)
    return api, indexes, reconciler


@pytest.mark.asyncio
async def test_after_its_create_and_patch_a_reconcile_reads_fresh_until_the_watch_shows_them(
    control_plane: ControlPlane, namespace: str, setup: tuple[CountingApi, Indexes, Reconciler]
) -> None:
    api, indexes, reconciler = setup
    create_trainjob(control_plane, namespace, "rw")
    await reconciler.reconcile(namespace, "rw")
    assert api.calls["create", "Job"] == 1 and api.calls["get", "jobs"] == 0, "an empty index: no Job"
    uid = job_of(control_plane, namespace, "rw")["metadata"]["uid"]

    await reconciler.reconcile(namespace, "rw")  # the index does not show the Job yet
    assert api.calls["get", "jobs"] == 1, "read fresh"
    assert api.calls["create", "Job"] == 1
    assert job_of(control_plane, namespace, "rw")["metadata"]["uid"] == uid
    status = status_of(control_plane, namespace, "rw")
    assert (status["phase"], status["restarts"]) == ("Created", 0)

    indexes.catch_up()
    await reconciler.reconcile(namespace, "rw")
    assert api.calls["get", "jobs"] == 1 and api.calls["list", "pods"] == 1, "served by the index"

    path = f"{TRAINJOBS.format(namespace=namespace)}/rw"
    control_plane.admin.patch(path, {"spec": {"runPolicy": {"suspend": True}}}, kind="merge")
    indexes.catch_up("trainjobs")  # the event of the spec change, which triggers the reconcile
    await reconciler.reconcile(namespace, "rw")
    assert api.calls["patch", "jobs"] == 1
    assert job_of(control_plane, namespace, "rw")["spec"]["suspend"] is True
    wait_until(lambda: suspended(control_plane, namespace, "rw"), "the Job controller suspended the Job")
    reads = api.calls["get", "jobs"]

    await reconciler.reconcile(namespace, "rw")  # the index still shows the Job unsuspended
    assert api.calls["get", "jobs"] == reads + 1, "read fresh"
    assert api.calls["patch", "jobs"] == 1, "the suspension is not applied twice"

    indexes.catch_up()
    await reconciler.reconcile(namespace, "rw")
    assert api.calls["get", "jobs"] == reads + 1, "served by the index"
    assert api.calls["patch", "jobs"] == 1
    assert status_of(control_plane, namespace, "rw")["phase"] == "Suspended"


@pytest.mark.asyncio
async def test_after_its_delete_a_reconcile_reads_fresh_until_the_watch_shows_it(
    control_plane: ControlPlane, namespace: str, setup: tuple[CountingApi, Indexes, Reconciler]
) -> None:
    api, indexes, reconciler = setup
    create_trainjob(control_plane, namespace, "gone")
    await reconciler.reconcile(namespace, "gone")
    indexes.catch_up()
    old = job_of(control_plane, namespace, "gone")["metadata"]["uid"]

    # A spec change before the workers ran: the Job is deleted and made again.
    path = f"{TRAINJOBS.format(namespace=namespace)}/gone"
    control_plane.admin.patch(path, {"spec": {"image": "trainer:2"}}, kind="merge")
    indexes.catch_up("trainjobs")
    await reconciler.reconcile(namespace, "gone")
    assert api.calls["delete", "jobs"] == 1
    reads = api.calls["get", "jobs"]

    for _ in range(2):  # the index still shows the old Job, not even terminating
        await reconciler.reconcile(namespace, "gone")
    assert api.calls["get", "jobs"] == reads + 2, "read fresh"
    assert api.calls["delete", "jobs"] == 1, "the Job is not deleted twice"
    assert status_of(control_plane, namespace, "gone")["restarts"] == 0

    wait_until(lambda: replaced(control_plane, namespace, "gone", old), "the old Job is gone")
    indexes.catch_up()
    await reconciler.reconcile(namespace, "gone")
    assert job_of(control_plane, namespace, "gone")["metadata"]["uid"] != old, "made again"
    assert api.calls["create", "Job"] == 2


@pytest.mark.asyncio
async def test_after_its_status_write_a_reconcile_reads_the_trainjob_fresh_until_the_watch_shows_it(
    control_plane: ControlPlane,
    namespace: str,
    setup: tuple[CountingApi, Indexes, Reconciler],
    events: list[Event],
) -> None:
    api, indexes, reconciler = setup
    create_trainjob(control_plane, namespace, "own")
    indexes.catch_up("trainjobs")  # the event of its creation
    await reconciler.reconcile(namespace, "own")
    assert api.calls["get", "trainjobs"] == 0, "served by the index"
    assert status_of(control_plane, namespace, "own")["phase"] == "Created"
    assert [event.reason for event in events] == ["WorkersCreated"]

    await reconciler.reconcile(namespace, "own")  # the index still shows it without a status
    assert api.calls["get", "trainjobs"] == 1, "read fresh"
    reasons = [event.reason for event in events]
    assert reasons.count("WorkersCreated") == 1, f"its own status write is not news: {reasons}"
    assert api.calls["create", "Job"] == 1

    indexes.catch_up()
    await reconciler.reconcile(namespace, "own")
    assert api.calls["get", "trainjobs"] == 1 and api.calls["get", "jobs"] == 1, "all from the indexes"
    assert status_of(control_plane, namespace, "own")["restarts"] == 0


@pytest.mark.asyncio
async def test_a_job_is_deleted_only_while_it_is_the_one_observed(
    control_plane: ControlPlane, namespace: str, setup: tuple[CountingApi, Indexes, Reconciler]
) -> None:
    api, _, reconciler = setup
    create_trainjob(control_plane, namespace, "kept")
    await reconciler.reconcile(namespace, "kept")
    with pytest.raises(ApiException) as raised:
        await api.delete(JOBS, namespace, "kept", "Background", uid="not-its-uid")
    assert raised.value.status == 409
    uid = job_of(control_plane, namespace, "kept")["metadata"]["uid"]
    await api.delete(JOBS, namespace, "kept", "Background", uid=uid)
    deleted = control_plane.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs")["items"]
    assert all(item["metadata"].get("deletionTimestamp") for item in deleted)
