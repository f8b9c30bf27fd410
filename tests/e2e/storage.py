"""Where e2e TrainJobs keep checkpoints: a PersistentVolumeClaim, object storage, and the apply-time
warning (the chart's checkpoint-path ValidatingAdmissionPolicy) for anywhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.chart import CHART
from tests.cluster import ApiError, ControlPlane
from tests.cluster.objectstore import S3Server
from tests.e2e.support import wait_until

#: Where the workers mount the checkpoint claim.
CLAIM_MOUNT = "/checkpoints"
POLICY_TEMPLATE = "templates/checkpointpolicy.yaml"


@contextmanager
def checkpoint_claim(
    cp: ControlPlane, namespace: str, directory: Path, name: str = "checkpoints"
) -> Iterator[str]:
    """A claim `name` bound by kube-controller-manager to a hostPath PersistentVolume on `directory`.

    The volume is reserved for the claim (`claimRef`), as an administrator pre-binds one, so that
    tests running side by side never take each other's. Yields the claim's name; deletes the volume.
    """
    volume = f"{namespace}-{name}"
    cp.admin.create(
        "/api/v1/persistentvolumes",
        {
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "hostPath": {"path": str(directory), "type": "DirectoryOrCreate"},
                "claimRef": {"namespace": namespace, "name": name},
            },
        },
    )
    try:
        claims = f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
        cp.admin.create(
            claims,
            {
                "metadata": {"name": name},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        wait_until(
            lambda: cp.admin.get(f"{claims}/{name}").get("status", {}).get("phase") == "Bound",
            f"kube-controller-manager to bind the claim {name}",
            timeout=60,
        )
        yield name
    finally:
        try:
            cp.admin.delete(f"/api/v1/persistentvolumes/{volume}")
        except ApiError as error:
            if error.status != 404:
                raise


def with_claim(manifest: dict[str, Any], claim: str) -> dict[str, Any]:
    """The manifest with its checkpoints in `<claim>/<job name>`, the claim mounted at /checkpoints."""
    template = manifest["spec"].setdefault("podTemplate", {})
    template.setdefault("volumes", []).append(
        {"name": "checkpoints", "persistentVolumeClaim": {"claimName": claim}}
    )
    template.setdefault("volumeMounts", []).append({"name": "checkpoints", "mountPath": CLAIM_MOUNT})
    manifest["spec"]["checkpoint"]["path"] = f"{CLAIM_MOUNT}/{manifest['metadata']['name']}"
    return manifest


def with_object_storage(manifest: dict[str, Any], url: str, secret: str) -> dict[str, Any]:
    """The manifest with its checkpoints at `url`, the credentials from the Secret `secret` through env."""
    env = manifest["spec"].setdefault("env", [])
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"):
        env.append({"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": variable}}})
    manifest["spec"]["checkpoint"]["path"] = url
    return manifest


def s3_credentials_secret(cp: ControlPlane, namespace: str, server: S3Server, name: str = "s3") -> str:
    """A Secret with what a worker pod needs to reach `server` (through the pod network's gateway)."""
    assert cp.network is not None
    data = server.credentials(cp.network.gateway)
    cp.admin.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": name}, "stringData": data, "type": "Opaque"},
    )
    return name


@contextmanager
def checkpoint_policy(cp: ControlPlane, probe: dict[str, Any], tmp_path: Path) -> Iterator[None]:
    """The chart's checkpoint-path policy, installed (rendered by helm) and in force for `probe`.

    The apiserver loads a new policy within seconds; a server-side dry run of `probe` (a manifest
    the policy warns about) is repeated until the warning shows.
    """
    rendered = cp.helm("template", "tj", str(CHART), "--show-only", POLICY_TEMPLATE).stdout
    path = tmp_path / "checkpoint-policy.yaml"
    path.write_text(rendered)
    cp.kubectl("apply", "-f", str(path))
    probe_path = tmp_path / "probe.yaml"
    probe_path.write_text(yaml.safe_dump(probe))
    try:
        wait_until(
            lambda: "Warning:" in cp.kubectl("apply", "--dry-run=server", "-f", str(probe_path)).stderr,
            "the checkpoint-path policy to be in force",
            timeout=60,
        )
        yield
    finally:
        cp.kubectl("delete", "-f", str(path), "--ignore-not-found")
