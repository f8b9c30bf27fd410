"""Shared e2e helpers: the CRD, example manifests, kubectl apply, and TrainJob status polling."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.cluster import ControlPlane

REPO = Path(__file__).parents[2]
TRAINJOBS = "/apis/trainjob.dev/v1alpha1/namespaces/{namespace}/trainjobs"
FINAL_PHASES = ("Succeeded", "Failed")
#: The namespace labels that make Pod Security admission enforce the restricted level.
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def install_crd(cp: ControlPlane) -> None:
    """Apply the generated CRD with kubectl and wait until it is served.

    (Polled rather than `kubectl wait`, which fails outright on a CRD so new that it has no
    conditions yet.)
    """
    cp.kubectl("apply", "-f", str(REPO / "crds" / "trainjob.dev_trainjobs.yaml"))
    deadline = time.monotonic() + 60
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trainjobs.trainjob.dev"
    while condition_statuses(cp.admin.get(path).get("status") or {}).get("Established") != "True":
        assert time.monotonic() < deadline, "the TrainJob CRD was not established within 60 s"
        time.sleep(0.1)


def example_manifest(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """An example TrainJob from `examples/NAME.yaml`, placed in `namespace`, with spec overrides."""
    manifest = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"].update(spec)
    return manifest


def kubectl_apply(cp: ControlPlane, manifest: dict[str, Any], tmp_path: Path) -> None:
    """`kubectl apply -f` the manifest, written to a file as a user would."""
    path = tmp_path / f"{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    cp.kubectl("apply", "-f", str(path))


def get_trainjob(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The TrainJob as the apiserver has it."""
    return cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/{name}")


def wait_for_status(
    cp: ControlPlane,
    namespace: str,
    name: str,
    until: Callable[[dict[str, Any]], bool] = lambda status: status.get("phase") in FINAL_PHASES,
    *,
    timeout: float = 300,
    operator: subprocess.Popen[bytes] | None = None,
    every: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll the TrainJob's status until `until(status)` holds; fail on timeout or a dead operator."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = get_trainjob(cp, namespace, name).get("status") or {}
        if every is not None:
            every(status)
        if until(status):
            return status
        assert operator is None or operator.poll() is None, "the operator exited"
        time.sleep(0.2)
    raise AssertionError(f"TrainJob {namespace}/{name} did not reach the expected status: {status}")


def condition_statuses(status: dict[str, Any]) -> dict[str, str]:
    """The conditions' `status` by `type`."""
    return {condition["type"]: condition["status"] for condition in status.get("conditions") or []}


def enforce_restricted(cp: ControlPlane, namespace: str) -> None:
    """Label the namespace so that Pod Security admission enforces the restricted level."""
    cp.admin.patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": RESTRICTED}})
