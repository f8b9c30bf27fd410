"""Where a TrainJob status write's apiserver CPU goes: the CRD as shipped, without its CEL rules,
and without a schema, against a ConfigMap, one run.

Three copies of the shipped CRD under other API groups (all else equal): as shipped; with every
`x-kubernetes-validations` removed; with `spec` and `status` free-form (no structural schema to
validate, prune and track fields against). One TrainJob in each gets `--writes` status merge
patches one after the other (the fragment the status load benchmark sends, as a reporter would),
after 100 warm-up writes; a ConfigMap gets the same fragment as data. The apiserver's CPU per
write comes from /proc. The figure printed last is shipped / schemaless.

    .venv/bin/python -m benchmarks.status_write_cost [--writes 500]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Callable
from typing import Any

import yaml

from benchmarks.status_load import cpu_per_write, manifest, progress
from tests.cluster import ApiError, ControlPlane, build_binaries
from tests.e2e.support import REPO

NAMESPACE = "cost"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
FREE_FORM = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def without_cel(node: Any) -> None:
    """Remove every CEL rule from a schema, in place."""
    if isinstance(node, dict):
        node.pop("x-kubernetes-validations", None)
        for value in node.values():
            without_cel(value)
    elif isinstance(node, list):
        for value in node:
            without_cel(value)


def schemaless(version: dict[str, Any]) -> None:
    """Make a CRD version's spec and status free-form, in place."""
    properties = {"spec": FREE_FORM, "status": FREE_FORM}
    version["schema"] = {"openAPIV3Schema": {"type": "object", "properties": properties}}
    version.pop("additionalPrinterColumns", None)
    version.pop("selectableFields", None)


def variant(shipped: dict[str, Any], group: str, change: Callable[[dict[str, Any]], None] | None) -> dict:
    """The shipped CRD under API group `group`, each version changed by `change`."""
    crd = copy.deepcopy(shipped)
    crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
    crd["spec"]["group"] = group
    for version in crd["spec"]["versions"]:
        if change is not None:
            change(version)
    return crd


def configmap_fragment(tick: int) -> dict[str, Any]:
    """The status fragment of `tick` as a ConfigMap's data."""
    return {"data": {"status": json.dumps(progress(tick))}}


def create_when_served(cp: ControlPlane, path: str, body: dict[str, Any], timeout: float = 60.0) -> None:
    """Create `body` once the apiserver serves its (new) resource."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            cp.admin.create(path, body)
            return
        except ApiError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--writes", type=int, default=500, help="timed writes per kind")
    args = parser.parse_args()
    shipped = yaml.safe_load((REPO / "crds" / "trainjob.dev_trainjobs.yaml").read_text())
    variants = {
        "shipped": variant(shipped, "shipped.bench", None),
        "no CEL": variant(shipped, "nocel.bench", lambda version: without_cel(version["schema"])),
        "schemaless": variant(shipped, "schemaless.bench", schemaless),
    }
    costs: dict[str, float] = {}
    with ControlPlane(build_binaries()) as cp:
        cp.admin.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        for crd in variants.values():
            cp.admin.create(CRDS, crd)
        for name, crd in variants.items():
            body = manifest("single")
            body["apiVersion"] = f"{crd['spec']['group']}/v1alpha1"
            body["metadata"]["namespace"] = NAMESPACE
            collection = f"/apis/{crd['spec']['group']}/v1alpha1/namespaces/{NAMESPACE}/trainjobs"
            create_when_served(cp, collection, body)
            path = f"{collection}/single/status"
            cpu_per_write(cp, path, lambda tick: {"status": progress(tick)}, 100)  # warm-up
            costs[name] = cpu_per_write(cp, path, lambda tick: {"status": progress(tick)}, args.writes)
        configmaps = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
        cp.admin.create(configmaps, {"metadata": {"name": "single"}, "data": {}})
        cpu_per_write(cp, f"{configmaps}/single", configmap_fragment, 100)
        costs["ConfigMap"] = cpu_per_write(cp, f"{configmaps}/single", configmap_fragment, args.writes)
    for name, cost in costs.items():
        print(f"{name:>10}: {cost:.2f} ms of apiserver CPU per write")
    print(f"ratio shipped/schemaless: {costs['shipped'] / costs['schemaless']:.3f}")


if __name__ == "__main__":
    main()
