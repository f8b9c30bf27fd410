"""Shared e2e helpers: the CRD, example manifests, kubectl apply, TrainJob status and worker pods."""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tests.cluster import ApiError, ControlPlane, TestNode
from trainjob_api.names import COMPLETION_INDEX, LABEL_ATTEMPT, LABEL_NAME

REPO = Path(__file__).parents[2]
TRAINJOBS = "/apis/trainjob.dev/v1alpha1/namespaces/{namespace}/trainjobs"
PODS = "/api/v1/namespaces/{namespace}/pods"
FINAL_PHASES = ("Succeeded", "Failed")
T = TypeVar("T")
#: The namespace labels that make Pod Security admission enforce the restricted level.
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def install_crd(cp: ControlPlane) -> None:
    """Apply the generated CRD with kubectl and wait until it is served."""
    cp.kubectl("apply", "-f", str(REPO / "crds" / "trainjob.dev_trainjobs.yaml"))
    wait_established(cp, "trainjobs.trainjob.dev")


def wait_established(cp: ControlPlane, crd: str) -> None:
    """Wait until the CRD named `crd` is served.

    (Polled rather than `kubectl wait`, which fails outright on a CRD so new that it has no
    conditions yet.)
    """
    deadline = time.monotonic() + 60
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd}"
    while condition_statuses(cp.admin.get(path).get("status") or {}).get("Established") != "True":
        assert time.monotonic() < deadline, f"the CRD {crd} was not established within 60 s"
        time.sleep(0.1)


def example_manifest(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """An example TrainJob from `examples/NAME.yaml`, placed in `namespace`, with spec overrides."""
    manifest = yaml.safe_load((REPO / "examples" / f"{name}.yaml").read_text())
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"].update(spec)
    return manifest


#: Reports every half second instead of every 10 s, so tests see each epoch.
STATUS_EVERY_HALF_SECOND = {"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}


def cluster_example(name: str, namespace: str, tmp_path: Path, **spec: Any) -> dict[str, Any]:
    """An example TrainJob for a test on the cluster: status reported every 0.5 s, checkpoints in
    tmp_path/checkpoints, a hostPath volume (the test node's disk), so the test can read them."""
    manifest = example_manifest(name, namespace, env=[STATUS_EVERY_HALF_SECOND], **spec)
    manifest["spec"]["checkpoint"]["path"] = str(tmp_path / "checkpoints")
    return with_host_directory(manifest, tmp_path / "checkpoints")


def with_host_directory(manifest: dict[str, Any], path: Path) -> dict[str, Any]:
    """The manifest with the host's `path` mounted at the same path in the workers (hostPath).

    The test node, like a kubelet, drops what a container writes outside its volumes; what the
    workers write here outlives them (as on a one-node cluster's disk) and the test can read it.
    """
    template = manifest["spec"].setdefault("podTemplate", {})
    name = f"host-{len(template.get('volumes', []))}"
    template.setdefault("volumes", []).append(
        {"name": name, "hostPath": {"path": str(path), "type": "DirectoryOrCreate"}}
    )
    template.setdefault("volumeMounts", []).append({"name": name, "mountPath": str(path)})
    return manifest


def worker_manifest(name: str, namespace: str, command: list[str], **spec: Any) -> dict[str, Any]:
    """A TrainJob whose workers run `command` (say a test worker under tests/workers/), with spec fields."""
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": "ghcr.io/trainjob/trainer:0.1.0", "command": command, "maxEpochs": 1, **spec},
    }


def kubectl_apply(
    cp: ControlPlane, manifest: dict[str, Any], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply -f` the manifest, written to a file as a user would; what kubectl printed."""
    path = tmp_path / f"{manifest['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return cp.kubectl("apply", "-f", str(path))


def kubectl_apply_all(cp: ControlPlane, manifests: list[dict[str, Any]], path: Path) -> None:
    """`kubectl apply -f` one file of several manifests."""
    path.write_text(yaml.safe_dump_all(manifests))
    cp.kubectl("apply", "-f", str(path))


def get_trainjob(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The TrainJob as the apiserver has it."""
    return cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/{name}")


def create_trainjob(cp: ControlPlane, namespace: str, name: str, status: dict[str, Any], **spec: Any) -> None:
    """A TrainJob (nobody runs it) with `status` written through the status subresource."""
    body = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name},
        "spec": {"image": "trainer:1", "command": ["python", "train.py"], "maxEpochs": 8, **spec},
    }
    path = TRAINJOBS.format(namespace=namespace)
    cp.admin.create(path, body)
    cp.admin.patch(f"{path}/{name}/status", {"status": status}, kind="merge")


def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    """A status condition as the operator writes it (at a fixed time)."""
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2024-05-01T12:00:00Z",
    }


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


def assert_succeeded(
    cp: ControlPlane, namespace: str, status: dict[str, Any], node: TestNode | None = None
) -> None:
    """Assert the TrainJob succeeded, or fail with its failure and worker logs: the failed
    worker's last lines from the pod log API, or, given the test node, every pod's (deleted pods
    included, for failures that name no worker such as a hang)."""
    if status.get("phase") == "Succeeded":
        return
    failure = status.get("failure") or {}
    log = ""
    if node is not None:
        log = node.log_tails(namespace)
    elif failure.get("pod"):
        try:
            log = cp.admin.text(f"/api/v1/namespaces/{namespace}/pods/{failure['pod']}/log?tailLines=60")
        except ApiError as error:
            log = f"(its log cannot be read: {error})"
    raise AssertionError(f"{failure.get('message') or ''}\n{json.dumps(status, indent=1)}\n{log}")


def condition_statuses(status: dict[str, Any]) -> dict[str, str]:
    """The conditions' `status` by `type`."""
    return {condition["type"]: condition["status"] for condition in status.get("conditions") or []}


def wait_until(
    check: Callable[[], T], what: str | Callable[[], str], *, timeout: float = 120, every: float = 0.5
) -> T:
    """Poll `check()` until it returns something truthy, and return that; fail after `timeout` seconds.

    `what` names what was awaited in the failure (a callable is asked only then, for fresh detail).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what if isinstance(what, str) else what()}"
    )


def worker_pods(
    cp: ControlPlane, namespace: str, name: str, attempt: int | None = None
) -> list[dict[str, Any]]:
    """The TrainJob's worker pods (of one attempt, if given), by completion index."""
    selector = f"{LABEL_NAME}={name}" + (f",{LABEL_ATTEMPT}={attempt}" if attempt is not None else "")
    pods = cp.admin.get(PODS.format(namespace=namespace), labelSelector=selector)["items"]
    return sorted(pods, key=lambda pod: int(pod["metadata"]["labels"][COMPLETION_INDEX]))


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    """The worker container's `terminated` state (empty while it has not exited)."""
    statuses = pod.get("status", {}).get("containerStatuses") or [{}]
    return (statuses[0].get("state") or {}).get("terminated") or {}


def enforce_restricted(cp: ControlPlane, namespace: str) -> None:
    """Label the namespace so that Pod Security admission enforces the restricted level."""
    cp.admin.patch(f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": RESTRICTED}})


class ProgressLog:
    """Every distinct `status.progress` (epoch, step) seen, in turn: a `wait_for_status(every=...)`."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __call__(self, status: dict[str, Any]) -> None:
        progress = status.get("progress") or {}
        point = (progress.get("epoch", 0), progress.get("step", 0))  # a loop may report only steps
        if "step" in progress and (not self.seen or self.seen[-1] != point):
            self.seen.append(point)

    def times_it_went_back(self) -> int:
        """How often the progress went below the one seen before it."""
        return sum(1 for before, after in itertools.pairwise(self.seen) if after < before)


def pending_manifest(namespace: str, name: str, image: str = "trainer") -> dict[str, Any]:
    """A TrainJob of 2 workers whose pods stay Pending (no node has the label they select)."""
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": image,
            "command": ["python", "train.py"],
            "numNodes": 2,
            "maxEpochs": 1,
            # No node has this label: the pods stay Pending even while a test node runs.
            "podTemplate": {"nodeSelector": {"example.com/pool": "nowhere"}},
        },
    }
