"""The coscheduling and Volcano PodGroups against those projects' own published CRD schemas.

The CRDs are not copied here: they come from the projects' Go modules through `go mod download`
(the Go module cache, else the Go module proxy), as the control-plane build gets its sources:
scheduler-plugins at the version Kueue v0.17.0 requires, and Volcano v1.14.1 (Kueue requires its
API module volcano.sh/apis v1.14.0, which ships no CRDs; the proxy here serves volcano.sh/volcano
v1.14.1, not v1.14.0). Each rendered PodGroup is validated against the CRD's
`openAPIV3Schema` with jsonschema, unknown fields refused (the apiserver would prune them
silently, so a misspelt field would be lost), as `kubectl apply --validate=strict` refuses them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from trainjob_operator.builders.podgroup import pod_group

#: (module@version, CRD file in it) of each scheduler's PodGroup CRD.
PUBLISHED = {
    "coscheduling": (
        "sigs.k8s.io/scheduler-plugins@v0.34.1-devel",
        "config/crd/bases/scheduling.x-k8s.io_podgroups.yaml",
    ),
    "volcano": (
        "volcano.sh/volcano@v1.14.1",
        "config/crd/volcano/bases/scheduling.volcano.sh_podgroups.yaml",
    ),
}
GO = shutil.which("go") or "/usr/local/go/bin/go"


@cache
def module_dir(module: str) -> Path:
    """Where `go mod download` put a module's source (read-only in the module cache)."""
    if not Path(GO).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("go is needed to read the published PodGroup CRDs", pytrace=False)
        pytest.skip("go is not installed: the published PodGroup CRDs cannot be read")
    result = subprocess.run(
        [GO, "mod", "download", "-json", module], capture_output=True, text=True, timeout=600, cwd="/"
    )
    info = json.loads(result.stdout or "{}")
    assert result.returncode == 0 and "Dir" in info, f"go mod download {module}: {info or result.stderr}"
    return Path(info["Dir"])


def strict(schema: Any) -> Any:
    """The schema with unknown properties refused wherever the apiserver would prune them."""
    if isinstance(schema, list):
        return [strict(entry) for entry in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    closed = "properties" in out and "additionalProperties" not in out
    if closed and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def published_schema(scheduler: str, api_version: str) -> dict[str, Any]:
    """The `openAPIV3Schema` of the scheduler's PodGroup CRD, for `api_version`."""
    module, path = PUBLISHED[scheduler]
    crd = yaml.safe_load((module_dir(module) / path).read_text())
    group, version = api_version.split("/")
    assert crd["spec"]["group"] == group
    (served,) = [entry for entry in crd["spec"]["versions"] if entry["name"] == version]
    assert served["served"], f"{api_version} is not served by {module}"
    return strict(served["schema"]["openAPIV3Schema"])


TRAINJOBS = [
    ("coscheduling", {"numNodes": 4, "podGroupPolicy": {"coscheduling": {}}}),
    (
        "coscheduling",
        {"numNodes": 1024, "podGroupPolicy": {"coscheduling": {"scheduleTimeoutSeconds": 2**31 - 1}}},
    ),
    ("volcano", {"numNodes": 2, "podGroupPolicy": {"volcano": {}}}),
    (
        "volcano",
        {
            "numNodes": 8,
            "podGroupPolicy": {"volcano": {"queue": "team-a.research"}},
            "podTemplate": {"priorityClassName": "high-priority"},
        },
    ),
]


@pytest.mark.parametrize(("scheduler", "spec"), TRAINJOBS)
def test_the_pod_group_is_valid_under_the_published_crd(trainjob_factory, scheduler, spec):
    group = pod_group(trainjob_factory(**spec))
    jsonschema.validate(group, published_schema(scheduler, group["apiVersion"]))
    assert group["spec"]["minMember"] == spec["numNodes"]


@pytest.mark.parametrize("scheduler", ["coscheduling", "volcano"])
def test_the_published_schema_would_catch_a_wrong_pod_group(trainjob_factory, scheduler):
    group = pod_group(trainjob_factory(numNodes=2, podGroupPolicy={scheduler: {}}))
    schema = published_schema(scheduler, group["apiVersion"])
    for broken in ({"minMembers": 2}, {"minMember": "two"}, {"minMember": -1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**group, "spec": broken}, schema)
