"""Worker pods pass the restricted Pod Security level, enforced by the real apiserver's admission."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import (
    assert_succeeded,
    enforce_restricted,
    example_manifest,
    kubectl_apply,
    wait_for_status,
)

pytestmark = pytest.mark.e2e


def test_workers_are_admitted_in_a_namespace_that_enforces_restricted(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    enforce_restricted(control_plane, namespace)
    manifest = example_manifest(
        "digits-ddp", namespace, command=["python", "-c", "print('admitted')"], args=[]
    )
    kubectl_apply(control_plane, manifest, tmp_path)

    status = wait_for_status(control_plane, namespace, "digits", operator=operator, timeout=180)
    assert_succeeded(control_plane, namespace, status, test_node)

    events = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/events")["items"]
    assert [event["message"] for event in events if event["reason"] == "FailedCreate"] == []
    pods = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        worker = pod["spec"]["containers"][0]["securityContext"]
        assert worker["allowPrivilegeEscalation"] is False
        assert worker["capabilities"]["drop"] == ["ALL"]
        assert "admitted" in test_node.logs(namespace, pod["metadata"]["name"])
