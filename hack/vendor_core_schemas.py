#!/usr/bin/env python3
"""Refresh `trainer_image/trainjob_api/core_v1_openapi.json` from a real kube-apiserver.

Starts the test control plane (`hack/controlplane.sh` binaries, root needed), reads its OpenAPI
v3 document of core/v1 and keeps the component schemas that the TrainJob embeds
(`coretypes.ROOTS` and every schema they reference), so that the CRD describes those types
exactly as the apiserver that validates the worker Job does. Run it after changing the
Kubernetes version or `ROOTS`, then `python hack/gen_crd.py`.
"""

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cluster import ControlPlane, build_binaries  # noqa: E402
from trainjob_api.coretypes import MAPPED, ROOTS, VENDORED  # noqa: E402


def references(schema: Any) -> set[str]:
    """The component names a schema refers to with `$ref`, directly."""
    if isinstance(schema, dict):
        found = {schema["$ref"].rsplit("/", 1)[-1]} if "$ref" in schema else set()
        return found.union(*(references(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(references(value) for value in schema))
    return set()


def closure(components: dict[str, Any]) -> dict[str, Any]:
    """The ROOTS and every component they reach, except the ones `coretypes` maps itself."""
    kept: dict[str, Any] = {}
    pending = list(ROOTS)
    while pending:
        name = pending.pop()
        if name in kept or name in MAPPED:
            continue
        kept[name] = components[name]
        pending.extend(references(components[name]))
    return dict(sorted(kept.items()))


def main() -> None:
    """Write the vendored schemas."""
    with ControlPlane(build_binaries(), feature_gates={}) as cp:  # the schemas of a default cluster
        document = cp.admin.get("/openapi/v3/api/v1")
        version = cp.version
    vendored = {"kubernetes": version, "schemas": closure(document["components"]["schemas"])}
    VENDORED.write_text(json.dumps(vendored, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(vendored['schemas'])} schemas of Kubernetes {version} to {VENDORED}")


if __name__ == "__main__":
    main()
