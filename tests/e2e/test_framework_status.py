"""Scripts people already have, on the real control plane: Lightning, Hugging Face, a plain loop, a tutorial.

None of the framework scripts imports trainjob; the plain loop calls `trainjob.report`. Each
reports into the TrainJob status; early stopping lands in `status.earlyStopping` and the job
ends EarlyStopped; `trainjob stop` (the annotation) stops every rank at the same step.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import (
    ProgressLog,
    assert_succeeded,
    example_manifest,
    kubectl_apply,
    terminated,
    wait_for_status,
    worker_pods,
)
from trainjob_api.names import STOP_ANNOTATION

#: Framework runs on 2 shared CPUs take minutes (transformers' imports alone take a while).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

INTERVAL = {"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.5"}
#: The transformers example with trainjob's callback added by hand (tests/workers/hf_with_callback.py):
#: its early stopping and stop requests do not travel through transformers' Kubeflow protocol.
HF_WITH_CALLBACK = ["python", "tests/workers/hf_with_callback.py"]

DONE = re.compile(r"rank (\d+) done: (?:(\d+) epochs, )?step (\d+)")


def framework_job(
    example: str, namespace: str, args: list[str], env: list[dict] | None = None
) -> dict[str, Any]:
    manifest = example_manifest(example, namespace, args=args)
    manifest["spec"]["env"] = [*(manifest["spec"].get("env") or []), INTERVAL, *(env or [])]
    return manifest


def reporting_job(example: str, namespace: str, args: list[str], tmp_path: Path) -> dict[str, Any]:
    """The example with `args` ({tmp} is tmp_path); the transformers one with trainjob's callback added."""
    manifest = framework_job(example, namespace, [arg.format(tmp=tmp_path) for arg in args])
    if example == "transformers-digits":
        manifest["spec"]["command"] = HF_WITH_CALLBACK
    return manifest


def final_steps(control_plane: ControlPlane, test_node: TestNode, namespace: str, name: str) -> set[str]:
    """Each rank's last step as its log says it, after checking every pod exited 0."""
    steps: dict[str, str] = {}
    for pod in worker_pods(control_plane, namespace, name):
        assert terminated(pod)["exitCode"] == 0, terminated(pod)
        log = test_node.logs(namespace, pod["metadata"]["name"])
        for rank, _epochs, step in DONE.findall(log):
            steps[rank] = step
    assert len(steps) == 2, steps
    return set(steps.values())


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {condition["type"]: condition for condition in status["conditions"]}


EARLY_STOPPING = [
    ("lightning-digits", ["--max-epochs", "40", "--checkpoints", "{tmp}/ck"], 3),
    ("plain-loop", ["--epochs", "40"], 3),
    (
        "transformers-digits",
        ["--epochs", "40", "--patience", "2", "--lr", "0", "--output", "{tmp}/out"],
        2,
    ),
]


@pytest.mark.parametrize(("example", "args", "patience"), EARLY_STOPPING, ids=[e[0] for e in EARLY_STOPPING])
def test_the_frameworks_early_stopping_lands_in_the_status(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
    example: str,
    args: list[str],
    patience: int,
) -> None:
    manifest = reporting_job(example, namespace, args, tmp_path)
    name = manifest["metadata"]["name"]
    kubectl_apply(control_plane, manifest, tmp_path)
    progress = ProgressLog()
    status = wait_for_status(control_plane, namespace, name, operator=operator, every=progress, timeout=600)
    assert_succeeded(control_plane, namespace, status, test_node)
    assert len(progress.seen) >= 3 and progress.times_it_went_back() == 0, progress.seen
    assert {"loss", "valLoss"} <= set(status["metrics"]) or "val_loss" in status["metrics"]["values"]
    early = status["earlyStopping"]
    assert early["triggered"] is True and early["reason"] == "EarlyStopping", early
    assert early["wait"] == early["patience"] == patience
    assert early["epoch"] == status["progress"]["epoch"] < 40
    assert conditions(status)["Succeeded"]["reason"] == "EarlyStopped"
    assert conditions(status)["EarlyStopped"]["status"] == "True"
    assert len(final_steps(control_plane, test_node, namespace, name)) == 1


STOPS = [
    ("lightning-digits", ["--max-epochs", "300", "--patience", "1000", "--checkpoints", "{tmp}/ck"]),
    ("plain-loop", ["--epochs", "300", "--patience", "1000"]),
    ("transformers-digits", ["--epochs", "300", "--patience", "1000", "--output", "{tmp}/out"]),
]


@pytest.mark.parametrize(("example", "args"), STOPS, ids=[s[0] for s in STOPS])
def test_a_stop_request_stops_every_rank_at_the_same_step(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
    example: str,
    args: list[str],
) -> None:
    manifest = reporting_job(example, namespace, args, tmp_path)
    name = manifest["metadata"]["name"]
    kubectl_apply(control_plane, manifest, tmp_path)
    progress = ProgressLog()

    def training(status: dict) -> bool:
        assert status.get("phase") not in ("Succeeded", "Failed"), status
        return len(progress.seen) >= 3 and bool(status.get("metrics"))

    wait_for_status(control_plane, namespace, name, training, operator=operator, every=progress, timeout=400)
    control_plane.kubectl("annotate", "tj", name, f"{STOP_ANNOTATION}=true", "-n", namespace)
    status = wait_for_status(control_plane, namespace, name, operator=operator, timeout=300)
    assert_succeeded(control_plane, namespace, status, test_node)
    assert status["stoppedOnRequest"] is True
    assert conditions(status)["Succeeded"]["reason"] == "StoppedOnRequest"
    assert len(final_steps(control_plane, test_node, namespace, name)) == 1


def test_an_unchanged_hugging_face_script_reports_progress_and_metrics(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    """transformers' own Kubeflow callback, switched on by the node launcher, reports into the status."""
    manifest = framework_job(
        "transformers-digits", namespace, ["--epochs", "12", "--output", f"{tmp_path}/out"]
    )
    kubectl_apply(control_plane, manifest, tmp_path)
    progress = ProgressLog()
    status = wait_for_status(
        control_plane, namespace, "transformers-digits", operator=operator, every=progress, timeout=900
    )
    assert_succeeded(control_plane, namespace, status, test_node)
    assert len(progress.seen) >= 3 and progress.times_it_went_back() == 0, progress.seen
    assert status["progress"]["percent"] == 100.0 and status["progress"]["totalSteps"] > 0
    assert {"loss", "eval_loss", "learning_rate"} <= set(status["metrics"]["values"])


def test_a_tutorial_ddp_script_with_no_trainjob_import_runs_2x2_without_max_epochs(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    manifest = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "tutorial", "namespace": namespace},
        "spec": {
            "image": "ghcr.io/trainjob/trainer:0.1.0",
            "command": ["torchrun", "tests/workers/tutorial_ddp.py"],
            "numNodes": 2,
            "numProcPerNode": 2,
        },
    }
    kubectl_apply(control_plane, manifest, tmp_path)
    status = wait_for_status(control_plane, namespace, "tutorial", operator=operator, timeout=400)
    assert_succeeded(control_plane, namespace, status, test_node)
    assert status["workers"]["succeeded"] == 2 and "progress" not in status
    logs = "".join(
        test_node.logs(namespace, pod["metadata"]["name"])
        for pod in worker_pods(control_plane, namespace, "tutorial")
    )
    assert sorted(re.findall(r"rank (\d)/4 \(local \d\) done", logs)) == ["0", "1", "2", "3"]
