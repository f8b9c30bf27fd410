"""Property: every TrainJob the schema accepts gives children that the real apiserver accepts.

Hypothesis generates TrainJobs from the schema's bounds (`trainjob_strategies`), keeps the ones
`validate()` accepts, and every child the builders make (ServiceAccount, Role, RoleBinding,
headless Service, Job) must pass a server-side dry run with strict field validation, and so
must a worker pod made from the Job's template, in namespaces that enforce the restricted Pod
Security level. Admission looks a pod's ServiceAccount up, so the pods are tried in a namespace of
their own where the accounts are created for real, and the children in one where nothing is.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings

from tests.cluster import ApiError, ControlPlane
from tests.integration.trainjob_strategies import PRIORITY_CLASS, trainjobs
from trainjob_api.defaulting import apply_defaults
from trainjob_api.validation import validate
from trainjob_operator.builders.children import children
from trainjob_operator.kube import RESOURCES_BY_KIND, Resource

pytestmark = pytest.mark.integration

DRY_RUN = {"dryRun": "All", "fieldValidation": "Strict"}
PRIORITY_CLASSES = "/apis/scheduling.k8s.io/v1/priorityclasses"
POD = Resource("", "v1", "pods")


def restricted_namespace(cp: ControlPlane, prefix: str) -> str:
    """A new namespace that enforces the restricted Pod Security level."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    labels = {"pod-security.kubernetes.io/enforce": "restricted"}
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels}})
    return name


@pytest.fixture(scope="module")
def namespaces(control_plane: ControlPlane) -> Iterator[tuple[str, str]]:
    """(children's namespace, pods' namespace), and the PriorityClass that generated pods name."""
    created = (restricted_namespace(control_plane, "prop"), restricted_namespace(control_plane, "prop-pods"))
    control_plane.admin.create(PRIORITY_CLASSES, {"metadata": {"name": PRIORITY_CLASS}, "value": 10})
    yield created
    control_plane.admin.delete(f"{PRIORITY_CLASSES}/{PRIORITY_CLASS}")
    for name in created:
        control_plane.admin.delete(f"/api/v1/namespaces/{name}")


def collection(kind: str, namespace: str) -> str:
    """The API path of a child's (or a pod's) collection."""
    resource = RESOURCES_BY_KIND.get(kind, POD)
    prefix = f"/apis/{resource.group}" if resource.group else "/api"
    return f"{prefix}/{resource.version}/namespaces/{namespace}/{resource.plural}"


def dry_run(cp: ControlPlane, kind: str, namespace: str, body: dict[str, Any]) -> None:
    """Create `body` with a server-side dry run; fail with the apiserver's message."""
    try:
        cp.admin.request("POST", collection(kind, namespace), body, query=DRY_RUN)
    except ApiError as error:
        pytest.fail(f"the apiserver refused the {kind}: {error}\n{body}")


def ensure_service_account(cp: ControlPlane, namespace: str, name: str) -> None:
    """The pod's ServiceAccount must exist for its admission."""
    try:
        cp.admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", {"metadata": {"name": name}})
    except ApiError as error:
        if error.status != 409:
            raise


# cel-python raises the recursion limit when it first compiles a rule (inside the first example).
@pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(manifest=trainjobs())
def test_every_accepted_trainjob_gives_children_the_apiserver_accepts(
    control_plane: ControlPlane, namespaces: tuple[str, str], manifest: dict[str, Any]
) -> None:
    assume(validate(manifest) == [])
    namespace, pods_namespace = namespaces
    trainjob = apply_defaults(manifest)
    trainjob["metadata"] |= {"namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1}
    deadline = trainjob["spec"]["runPolicy"].get("activeDeadlineSeconds")
    built = children(trainjob, attempt=0, deadline_seconds=deadline)
    gang = ["PodGroup"] if "podGroupPolicy" in trainjob["spec"] else []
    kinds = [child["kind"] for child in built]
    assert kinds == ["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", *gang, "Job"]
    for child in built:
        dry_run(control_plane, child["kind"], namespace, child)

    template = built[-1]["spec"]["template"]
    ensure_service_account(control_plane, pods_namespace, template["spec"]["serviceAccountName"])
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": f"{trainjob['metadata']['name']}-0"},
        "spec": template["spec"],
    }
    dry_run(control_plane, "Pod", pods_namespace, pod)
