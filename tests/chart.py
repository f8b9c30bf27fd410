"""The Helm chart and the Argo CD health check under test: rendering, RBAC as permission sets,
installing releases on the control plane, and running the Lua health check."""

from __future__ import annotations

import contextlib
import itertools
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from lupa.lua51 import LuaRuntime

from tests.cluster import ControlPlane
from tests.cluster.tools import Cli
from tests.e2e.support import wait_until

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "charts" / "trainjob-operator"
ARGOCD_HEALTH = CHART / "argocd" / "health.lua"

#: One permission: (API group, resource, verb, resource name or None for any).
Permission = tuple[str, str, str, str | None]


def grant_rules(group: str, resources: Iterable[str], verbs: Iterable[str]) -> set[Permission]:
    """Every (group, resource, verb) of the product, for any resource name."""
    return {(group, resource, verb, None) for resource, verb in itertools.product(resources, verbs)}


#: What kopf needs cluster-wide in every mode: noticing CRD changes.
KOPF_OBSERVATION = grant_rules("apiextensions.k8s.io", ["customresourcedefinitions"], ["list", "watch"])
#: What the operator needs wherever it reconciles TrainJobs (see the chart's `workloadRules`).
WORKLOAD = (
    grant_rules("trainjob.dev", ["trainjobs"], ["get", "list", "watch", "patch", "delete"])
    | grant_rules("trainjob.dev", ["trainjobs/status"], ["get", "patch"])
    | grant_rules("trainjob.dev", ["trainjobs/finalizers"], ["update"])
    | grant_rules("batch", ["jobs"], ["get", "list", "watch", "create", "patch", "delete"])
    | grant_rules("", ["pods"], ["list", "watch", "delete"])
    | grant_rules("", ["services", "serviceaccounts"], ["create", "get"])
    | grant_rules("", ["configmaps"], ["create", "get", "patch"])
    | grant_rules("rbac.authorization.k8s.io", ["roles", "rolebindings"], ["create", "get"])
    | grant_rules("", ["events"], ["create", "list"])
    | grant_rules("scheduling.k8s.io", ["podgroups"], ["create"])
)
#: With `kueue.enabled`: reading Kueue's Workloads, to say why a queue holds a TrainJob.
KUEUE_READ = grant_rules("kueue.x-k8s.io", ["workloads"], ["list"])


def peering(resource: str, name: str) -> set[Permission]:
    """kopf peering: list and watch the peering objects, patch only the operator's own."""
    return grant_rules("kopf.dev", [resource], ["list", "watch"]) | {("kopf.dev", resource, "patch", name)}


def permissions(rules: Iterable[Mapping[str, Any]]) -> set[Permission]:
    """Every (group, resource, verb, name) a list of RBAC rules grants, one by one."""
    return {
        (group, resource, verb, name)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
        for name in rule.get("resourceNames") or [None]
    }


def render(helm: Cli, *values: str, release: str = "op", namespace: str = "ops") -> list[dict[str, Any]]:
    """`helm template` of the chart with `--set` values, as objects."""
    sets = [f"--set={value}" for value in values]
    result = helm("template", release, str(CHART), "--namespace", namespace, *sets)
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def only(
    objects: Iterable[dict[str, Any]], kind: str, namespace: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """The one object of this kind (in this namespace, with this name, if given)."""
    found = [
        obj
        for obj in objects
        if obj["kind"] == kind
        and (namespace is None or obj["metadata"].get("namespace") == namespace)
        and (name is None or obj["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def kinds(objects: Iterable[dict[str, Any]]) -> list[str]:
    """The kinds of the objects, sorted."""
    return sorted(obj["kind"] for obj in objects)


#: How a 403 reads in kopf's log.
#: What an RBAC denial of the operator's own account looks like in its (lower-cased) log. A write
#: into another test's namespace that is being deleted is also "forbidden", but not for want of
#: a permission.
PERMISSION_DENIED = re.compile(r'forbidden: user \\?"system:serviceaccount:|not enough permissions')


def permission_denials(log: str) -> list[str]:
    """The lines of an operator log that report an RBAC denial."""
    return [line for line in log.lower().splitlines() if PERMISSION_DENIED.search(line)]


def create_namespace(cp: ControlPlane, prefix: str, labels: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": labels or {}}})
    return name


def restricted_namespace(cp: ControlPlane, prefix: str) -> str:
    """A namespace that enforces the restricted Pod Security Standard."""
    return create_namespace(cp, prefix, {"pod-security.kubernetes.io/enforce": "restricted"})


def release_pods(cp: ControlPlane, namespace: str, release: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={release}"
    pods = cp.admin.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector=selector)["items"]
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp")]


def running_pods(cp: ControlPlane, namespace: str, release: str, count: int) -> list[dict[str, Any]]:
    def running() -> list[dict[str, Any]]:
        pods = release_pods(cp, namespace, release)
        ok = len(pods) == count and all(pod["status"].get("phase") == "Running" for pod in pods)
        return pods if ok else []

    return wait_until(running, f"{count} running operator pod(s) of {release}")


def install(cp: ControlPlane, release: str, namespace: str, *values: str) -> None:
    """`helm install` with these `--set` values, and wait for it."""
    _release(cp, ["install", release], namespace, values)


def upgrade(cp: ControlPlane, release: str, namespace: str, *values: str) -> None:
    """`helm upgrade` to the chart's defaults and these `--set` values (none kept from before), and wait."""
    _release(cp, ["upgrade", release, "--reset-values"], namespace, values)


def _release(cp: ControlPlane, command: list[str], namespace: str, values: Iterable[str]) -> None:
    sets = [f"--set={value}" for value in values]
    cp.helm(*command, str(CHART), "-n", namespace, "--wait", "--timeout=240s", *sets, timeout=300)


@contextlib.contextmanager
def installed(cp: ControlPlane, release: str, *values: str) -> Iterator[str]:
    """The chart installed (with these values) in a fresh namespace that enforces the restricted
    standard, for the block; its namespace."""
    namespace = restricted_namespace(cp, "ops")
    install(cp, release, namespace, *values)
    try:
        yield namespace
    finally:
        uninstall(cp, release, namespace)


def uninstall(cp: ControlPlane, release: str, namespace: str) -> None:
    """Uninstall and wait until no operator of the release runs any more."""
    cp.helm("uninstall", release, "-n", namespace, "--wait", "--timeout=120s", timeout=180)
    wait_until(lambda: not release_pods(cp, namespace, release), f"the pods of {release} to go", timeout=120)
    cp.admin.delete(f"/api/v1/namespaces/{namespace}")


def argocd_health(trainjob: Mapping[str, Any]) -> tuple[str, str]:
    """Run health.lua on a TrainJob the way Argo CD does (Lua 5.1, the object in the global `obj`)."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    assert lua.eval("_VERSION") == "Lua 5.1"
    lua.globals().obj = lua.table_from(dict(trainjob), recursive=True)
    result = lua.execute(ARGOCD_HEALTH.read_text())
    return result["status"], result["message"]
