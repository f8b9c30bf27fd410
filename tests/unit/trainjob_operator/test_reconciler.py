"""The Reconciler against kmock's emulated Kubernetes API: the real client, HTTP and wire format."""

import copy

import attrs
import kmock as km
import kubernetes.client
import pytest

from trainjob_operator.kube import KubeApi
from trainjob_operator.metrics import Metrics
from trainjob_operator.reconciler import Reconciler
from trainjob_operator.watch_cache import WatchCache

TRAINJOBS = "trainjob.dev/v1alpha1/trainjobs"
JOBS = "batch/v1/jobs"
PODS = "v1/pods"


@attrs.frozen
class Invalid(km.KubernetesError):
    status: int = 422
    reason: str = "Invalid"
    message: str = 'Job.batch "mnist" is invalid: spec.template.spec.volumes[0].name: Required value'


@attrs.frozen
class NotServed(km.KubernetesError):
    status: int = 404
    reason: str = "NotFound"
    message: str = "the server could not find the requested resource"


@pytest.fixture
def cluster(kmock):
    kmock.resources[TRAINJOBS] = km.ResourceInfo(kind="TrainJob", namespaced=True, subresources={"status"})
    for resource, kind in [(JOBS, "Job"), (PODS, "Pod"), ("v1/services", "Service"),
                           ("v1/serviceaccounts", "ServiceAccount"), ("v1/configmaps", "ConfigMap"),
                           ("rbac.authorization.k8s.io/v1/roles", "Role"),
                           ("rbac.authorization.k8s.io/v1/rolebindings", "RoleBinding")]:  # fmt: skip
        kmock.resources[resource] = km.ResourceInfo(kind=kind, namespaced=True)
    return kmock


@pytest.fixture
def events():
    return []


@pytest.fixture
def reconciler(cluster, events):
    api = KubeApi(
        kubernetes.client.ApiClient(kubernetes.client.Configuration(host=str(cluster.url).rstrip("/")))
    )
    return Reconciler(
        api, lambda trainjob, event: events.append((trainjob["metadata"]["name"], event)), Metrics()
    )


def add_trainjob(cluster, status=None, **spec):
    body = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "mnist", "namespace": "ml", "uid": "uid-1", "generation": 1},
        "spec": {"image": "example.com/train:1", "command": ["python", "train.py"], "maxEpochs": 2, **spec},
    }
    if status is not None:
        body["status"] = status
    cluster.objects[TRAINJOBS, "ml", "mnist"] = body


def stored(cluster, resource, name, namespace="ml"):
    try:
        found = cluster.objects[resource, namespace, name]
    except KeyError:
        return None
    return None if found.deleted else found.raw


@pytest.mark.asyncio
async def test_creates_children_and_writes_status(cluster, reconciler, events):
    add_trainjob(cluster, numNodes=2)
    await reconciler.reconcile("ml", "mnist")
    kinds = sorted(resource.plural for resource, _, _ in cluster.objects)
    assert kinds == [
        "configmaps",
        "jobs",
        "rolebindings",
        "roles",
        "serviceaccounts",
        "services",
        "trainjobs",
    ]
    job = stored(cluster, JOBS, "mnist")
    assert job["spec"]["completions"] == 2
    trainjob = stored(cluster, TRAINJOBS, "mnist")
    assert trainjob["status"]["phase"] == "Created"
    assert trainjob["spec"]["image"] == "example.com/train:1", "the status patch touched only the status"
    assert [(name, event.reason) for name, event in events] == [("mnist", "WorkersCreated")]


@pytest.mark.asyncio
async def test_group_restart_through_the_api(cluster, reconciler):
    add_trainjob(cluster, numNodes=2, runPolicy={"backoffLimit": 1})
    await reconciler.reconcile("ml", "mnist")
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "backoff"}
    cluster.objects[JOBS, "ml", "mnist"].patch({"status": {"failed": 1, "conditions": [failed]}})
    terminated = {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2024-05-01T12:00:00Z"}
    cluster.objects[PODS, "ml", "mnist-1-abcde"] = {
        "metadata": {"name": "mnist-1-abcde", "namespace": "ml",
                     "labels": {"trainjob.dev/name": "mnist", "trainjob.dev/attempt": "0",
                                "batch.kubernetes.io/job-completion-index": "1"}},
        "status": {"phase": "Failed",
                   "containerStatuses": [{"name": "worker", "state": {"terminated": terminated}}]},
    }  # fmt: skip
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert (status["phase"], status["restarts"]) == ("Restarting", 1)
    assert status["failure"]["reason"] == "OOMKilled" and status["failure"]["worker"] == 1
    assert stored(cluster, JOBS, "mnist") is None, "deleted (kmock has no foreground deletion: at once)"
    await reconciler.reconcile("ml", "mnist")
    assert stored(cluster, JOBS, "mnist")["metadata"]["labels"]["trainjob.dev/attempt"] == "1"
    assert stored(cluster, TRAINJOBS, "mnist")["status"]["phase"] == "Created"


@pytest.mark.asyncio
async def test_an_invalid_job_fails_the_trainjob(cluster, reconciler, events):
    cluster["post /apis/batch/v1/namespaces/ml/jobs"] << Invalid
    add_trainjob(cluster)
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert status["phase"] == "Failed"
    assert status["failure"]["reason"] == "InvalidWorkers"
    assert "spec.template.spec.volumes[0].name: Required value" in status["failure"]["message"]
    assert events[-1][1].type == "Warning"


@pytest.mark.asyncio
async def test_pods_the_job_controller_cannot_create_are_explained_by_its_events(cluster, reconciler):
    cluster.resources["v1/events"] = km.ResourceInfo(kind="Event", namespaced=True)
    add_trainjob(cluster)
    await reconciler.reconcile("ml", "mnist")
    job_uid = stored(cluster, JOBS, "mnist")["metadata"].setdefault("uid", "job-uid")
    forbidden = 'Error creating: pods "mnist-0-abc" is forbidden: violates PodSecurity "restricted:latest": x'
    for name, message, when in [("older", "Error creating: quota", "2024-05-01T12:00:00Z"),
                                ("newer", forbidden, "2024-05-01T12:00:05Z")]:  # fmt: skip
        cluster.objects["v1/events", "ml", name] = {
            "metadata": {"name": name, "namespace": "ml"},
            "involvedObject": {"kind": "Job", "name": "mnist", "uid": job_uid},
            "reason": "FailedCreate",
            "message": message,
            "lastTimestamp": when,
        }
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert (status["phase"], status["failure"]["reason"]) == ("Failed", "PodSecurityViolation")
    assert "violates PodSecurity" in status["failure"]["message"]
    assert stored(cluster, JOBS, "mnist") is None, "the Job is deleted, so that it stops retrying"


@pytest.mark.asyncio
async def test_an_invalid_role_fails_the_trainjob_and_no_job_is_created(cluster, reconciler, events):
    cluster["post /apis/rbac.authorization.k8s.io/v1/namespaces/ml/roles"] << Invalid
    add_trainjob(cluster)
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert status["phase"] == "Failed"
    assert "the apiserver rejected the Role: " in status["failure"]["message"]
    assert stored(cluster, JOBS, "mnist") is None


@pytest.mark.asyncio
async def test_a_service_account_of_the_reporters_name_that_is_not_the_trainjobs_fails_it(
    cluster, reconciler, events
):
    privileged = {"metadata": {"name": "mnist-reporter", "namespace": "ml", "uid": "sa-1"}}
    cluster.objects["v1/serviceaccounts", "ml", "mnist-reporter"] = privileged
    add_trainjob(cluster)
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert status["phase"] == "Failed" and status["failure"]["reason"] == "ChildNameTaken"
    assert "a ServiceAccount named 'mnist-reporter' already exists" in status["failure"]["message"]
    assert stored(cluster, JOBS, "mnist") is None, "no worker runs as someone else's ServiceAccount"


@pytest.mark.asyncio
async def test_children_a_first_reconcile_made_are_used_again(cluster, reconciler):
    add_trainjob(cluster)
    await reconciler.reconcile("ml", "mnist")
    job = stored(cluster, JOBS, "mnist")
    del cluster.objects[JOBS, "ml", "mnist"]
    cluster.objects[TRAINJOBS, "ml", "mnist"] = {**stored(cluster, TRAINJOBS, "mnist"), "status": {}}
    await reconciler.reconcile("ml", "mnist")
    assert stored(cluster, TRAINJOBS, "mnist")["status"]["phase"] != "Failed"
    assert stored(cluster, JOBS, "mnist")["spec"] == job["spec"]


@attrs.frozen
class RoleNotFound(km.KubernetesError):
    status: int = 404
    reason: str = "NotFound"
    message: str = 'roles.rbac.authorization.k8s.io "mnist-reporter" not found'


@pytest.mark.asyncio
async def test_a_role_binding_refused_until_its_role_is_visible_is_retried(cluster, reconciler):
    # The apiserver checks a binding by an operator without `bind` against the Role, created at once.
    cluster["post /apis/rbac.authorization.k8s.io/v1/namespaces/ml/rolebindings"] << RoleNotFound
    add_trainjob(cluster)
    with pytest.raises(kubernetes.client.ApiException):
        await reconciler.reconcile("ml", "mnist")
    assert "status" not in stored(cluster, TRAINJOBS, "mnist"), "not failed: the reconcile is retried"


@pytest.mark.asyncio
async def test_a_transient_error_on_a_child_propagates_and_the_retry_completes(cluster, reconciler):
    cluster["post /api/v1/namespaces/ml/services"] << km.KubernetesError
    add_trainjob(cluster)
    with pytest.raises(kubernetes.client.ApiException):
        await reconciler.reconcile("ml", "mnist")
    assert stored(cluster, JOBS, "mnist") is None, "no Job before its Service exists"
    assert "status" not in stored(cluster, TRAINJOBS, "mnist")


@pytest.mark.asyncio
async def test_finished_cleans_pods_and_expires(cluster, reconciler):
    status = {"phase": "Succeeded", "completionTime": "2024-05-01T12:00:00Z", "restarts": 0}
    add_trainjob(cluster, status=status, runPolicy={"cleanPodPolicy": "All", "ttlSecondsAfterFinished": 60})
    cluster.objects[PODS, "ml", "mnist-0-x"] = {
        "metadata": {"name": "mnist-0-x", "namespace": "ml", "labels": {"trainjob.dev/name": "mnist"}},
        "status": {"phase": "Succeeded"},
    }
    await reconciler.reconcile("ml", "mnist")
    assert stored(cluster, PODS, "mnist-0-x") is None
    assert stored(cluster, TRAINJOBS, "mnist") is None, "deleted after its TTL"


@pytest.mark.asyncio
async def test_a_missing_trainjob_is_nothing_to_do(cluster, reconciler):
    await reconciler.reconcile("ml", "gone")
    assert len(list(cluster.objects)) == 0


@pytest.mark.asyncio
async def test_errors_propagate_and_are_counted(cluster, events):
    metrics = Metrics()
    api = KubeApi(
        kubernetes.client.ApiClient(kubernetes.client.Configuration(host=str(cluster.url).rstrip("/")))
    )
    reconciler = Reconciler(api, lambda *_: None, metrics)
    cluster["get /apis/trainjob.dev/v1alpha1/namespaces/ml/trainjobs/mnist"] << km.KubernetesError
    with pytest.raises(kubernetes.client.ApiException):
        await reconciler.reconcile("ml", "mnist")
    assert sum(metrics.errors.values()) == 1
    assert metrics.reconciles == 1


@pytest.mark.asyncio
async def test_a_stale_cache_never_counts_a_restart(cluster, events):
    api = KubeApi(
        kubernetes.client.ApiClient(kubernetes.client.Configuration(host=str(cluster.url).rstrip("/")))
    )
    fresh = Reconciler(api, lambda *_: None, Metrics())
    add_trainjob(cluster, runPolicy={"backoffLimit": 2})
    await fresh.reconcile("ml", "mnist")
    cluster.resources["v1/events"] = km.ResourceInfo(kind="Event", namespaced=True)
    stored(cluster, JOBS, "mnist")["metadata"].setdefault("uid", "job-uid")
    # A cache whose watch never showed the Job: as it stands, the Job looks deleted under a Created job.
    stale = Reconciler(api, lambda *_: None, Metrics(), WatchCache({}, {}))
    await stale.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert (status["phase"], status["restarts"]) == ("Created", 0), "decided on fresh reads"
    assert stored(cluster, JOBS, "mnist") is not None


@pytest.mark.asyncio
async def test_a_trainjob_index_behind_the_last_status_write_is_never_acted_on(cluster, events):
    api = KubeApi(
        kubernetes.client.ApiClient(kubernetes.client.Configuration(host=str(cluster.url).rstrip("/")))
    )
    add_trainjob(cluster)
    before_any_write = copy.deepcopy(stored(cluster, TRAINJOBS, "mnist"))
    trainjobs = {("ml", "mnist"): [before_any_write]}
    post = lambda trainjob, event: events.append(event)  # noqa: E731
    reconciler = Reconciler(api, post, Metrics(), WatchCache({}, {}, trainjobs))
    await reconciler.reconcile("ml", "mnist")
    assert stored(cluster, TRAINJOBS, "mnist")["status"]["phase"] == "Created" and len(events) == 1
    cluster.resources["v1/events"] = km.ResourceInfo(kind="Event", namespaced=True)
    stored(cluster, JOBS, "mnist")["metadata"].setdefault("uid", "job-uid")
    # The watch still shows the TrainJob without status: the next reconcile reads it fresh, else it
    # would take the status for new and post "Created" again.
    posted = len(events)
    await reconciler.reconcile("ml", "mnist")
    assert len(events) == posted


@pytest.mark.asyncio
async def test_a_gang_scheduler_the_cluster_lacks_fails_the_trainjob_before_any_pod(cluster, reconciler):
    cluster["post /apis/scheduling.volcano.sh/v1beta1/namespaces/ml/podgroups"] << NotServed
    add_trainjob(cluster, numNodes=2, podGroupPolicy={"volcano": {}})
    await reconciler.reconcile("ml", "mnist")
    status = stored(cluster, TRAINJOBS, "mnist")["status"]
    assert (status["phase"], status["failure"]["reason"]) == ("Failed", "InvalidWorkers")
    assert "does not serve scheduling.volcano.sh/v1beta1 PodGroups" in status["failure"]["message"]
    assert stored(cluster, JOBS, "mnist") is None, "no pods that no scheduler would ever place"


@pytest.mark.asyncio
async def test_a_gang_scheduled_trainjob_gets_its_pod_group_before_its_job(cluster, reconciler):
    cluster.resources["scheduling.k8s.io/v1alpha2/podgroups"] = km.ResourceInfo(
        kind="PodGroup", namespaced=True
    )
    add_trainjob(cluster, numNodes=2, podGroupPolicy={"native": {}})
    await reconciler.reconcile("ml", "mnist")
    (group,) = [body for key, body in cluster.objects.items() if key[0].plural == "podgroups"]
    assert group["spec"] == {"schedulingPolicy": {"gang": {"minCount": 2}}}
    template = stored(cluster, JOBS, "mnist")["spec"]["template"]["spec"]
    assert template["schedulingGroup"] == {"podGroupName": group["metadata"]["name"]}
