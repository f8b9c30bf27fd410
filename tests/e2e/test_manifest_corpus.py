"""The corpus of bad manifests against the real apiserver, then the accepted ones through the operator.

Everything runs in a namespace that enforces the `restricted` Pod Security level. Rejected
manifests must be refused by `kubectl apply` with a message that names the field; accepted ones
must end, all together under one operator, in their recorded condition with a Warning Event,
while the operator stays up and, once they are there, leaves them alone (no endless patching).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ApiError, ControlPlane, TestNode
from tests.e2e.support import RESTRICTED, condition_statuses, enforce_restricted, get_trainjob
from tests.manifest_corpus import BadManifest, Outcome, load_corpus

pytestmark = pytest.mark.e2e

CORPUS = load_corpus()
REJECTED = [manifest for manifest in CORPUS if manifest.outcome is Outcome.REJECTED]
ACCEPTED = [manifest for manifest in CORPUS if manifest.outcome is not Outcome.REJECTED]
#: How long the accepted TrainJobs must stay untouched once they reached their outcome: three
#: resync periods of the `operator` fixture (5 s).
SETTLE_SECONDS = 16


@pytest.fixture(scope="module")
def restricted_namespace(control_plane: ControlPlane) -> Iterator[str]:
    """One namespace for the apply checks, enforcing the restricted Pod Security level."""
    name = f"bad-{uuid.uuid4().hex[:8]}"
    control_plane.admin.create("/api/v1/namespaces", {"metadata": {"name": name, "labels": RESTRICTED}})
    yield name
    control_plane.admin.delete(f"/api/v1/namespaces/{name}")


def apply(
    cp: ControlPlane, manifest: BadManifest, namespace: str, *dry_run: str
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply -f FILE`, as a user would."""
    return cp.kubectl("apply", "-n", namespace, "-f", str(manifest.path), *dry_run, check=False)


@pytest.mark.parametrize("manifest", CORPUS, ids=lambda manifest: manifest.name)
def test_the_apiserver_accepts_or_rejects_each_manifest(
    control_plane: ControlPlane, crd: None, restricted_namespace: str, manifest: BadManifest
) -> None:
    result = apply(control_plane, manifest, restricted_namespace, "--dry-run=server")
    output = result.stdout + result.stderr
    if manifest.outcome is not Outcome.REJECTED:
        assert result.returncode == 0, output
        return
    assert result.returncode != 0, output
    for message in manifest.messages:
        assert message in output


def job_is_gone(cp: ControlPlane, namespace: str, name: str) -> bool:
    """Whether the TrainJob's worker Job no longer exists."""
    try:
        cp.admin.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}")
    except ApiError as error:
        return error.status == 404
    return False


def events_of(cp: ControlPlane, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Events about the TrainJob `name`."""
    selector = f"involvedObject.name={name},involvedObject.kind=TrainJob"
    return cp.admin.get(f"/api/v1/namespaces/{namespace}/events", fieldSelector=selector)["items"]


def reached(cp: ControlPlane, node: TestNode, namespace: str, manifest: BadManifest) -> bool:
    """Whether the TrainJob shows its expected outcome (condition and Warning Event, or the log)."""
    status = get_trainjob(cp, namespace, manifest.name).get("status") or {}
    if manifest.outcome is Outcome.SUCCEEDED:
        if status.get("phase") != "Succeeded":
            return False
        pods = cp.admin.get(
            f"/api/v1/namespaces/{namespace}/pods", labelSelector=f"trainjob.dev/name={manifest.name}"
        )
        log = "".join(node.logs(namespace, pod["metadata"]["name"]) for pod in pods["items"])
        return all(message in log for message in manifest.messages)
    condition_type = "Failed" if manifest.outcome is Outcome.FAILED else "Ready"
    phase = "Failed" if manifest.outcome is Outcome.FAILED else "Created"
    condition = next((c for c in status.get("conditions", []) if c["type"] == condition_type), {})
    if status.get("phase") != phase or condition.get("reason") != manifest.reason:
        return False
    assert all(message in condition["message"] for message in manifest.messages), condition
    warnings = [event for event in events_of(cp, namespace, manifest.name) if event["type"] == "Warning"]
    return any(event["reason"] == manifest.reason for event in warnings)


def test_the_operator_gives_every_accepted_manifest_its_outcome_and_settles(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    enforce_restricted(control_plane, namespace)
    for manifest in ACCEPTED:
        result = apply(control_plane, manifest, namespace)
        assert result.returncode == 0, result.stderr

    pending = {manifest.name: manifest for manifest in ACCEPTED}
    deadline = time.monotonic() + 240
    while pending and time.monotonic() < deadline:
        assert operator.poll() is None, "the operator exited"
        for name, manifest in list(pending.items()):
            if reached(control_plane, test_node, namespace, manifest):
                del pending[name]
        time.sleep(1)
    statuses = {name: get_trainjob(control_plane, namespace, name).get("status") for name in pending}
    assert not pending, f"not at their expected outcome: {statuses}"

    for manifest in ACCEPTED:
        status = get_trainjob(control_plane, namespace, manifest.name)["status"]
        if manifest.outcome is Outcome.FAILED:
            assert condition_statuses(status)["Stalled"] == "True", manifest.name
            assert status["failure"]["reason"] == manifest.reason
        if manifest.reason == "PodSecurityViolation":
            assert job_is_gone(control_plane, namespace, manifest.name), "the Job would keep retrying"

    versions = {
        m.name: get_trainjob(control_plane, namespace, m.name)["metadata"]["resourceVersion"]
        for m in ACCEPTED
    }
    time.sleep(SETTLE_SECONDS)
    assert operator.poll() is None, "the operator exited"
    after = {
        m.name: get_trainjob(control_plane, namespace, m.name)["metadata"]["resourceVersion"]
        for m in ACCEPTED
    }
    changed = sorted(name for name in versions if versions[name] != after[name])
    assert not changed, f"still being changed after their outcome: {changed}"
    log = (tmp_path / "operator.log").read_text()
    assert "Traceback" not in log
