"""Run the tiny regression worker as a real multi-process TrainJob through the local runner."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from trainjob.runner.local import LocalRun, RunOptions
from trainjob.runner.manifest import TrainJobManifest
from trainjob.runner.run_status import LocalStatus
from trainjob_api.contract import JobIdentity

WORKER = Path(__file__).parents[1] / "workers" / "tiny_regression.py"


@dataclass
class JobRun:
    """A finished local run: its status, each rank's report, and every output line."""

    status: LocalStatus
    document: dict[str, Any]
    ranks: dict[int, dict[str, Any]]
    lines: list[str] = field(default_factory=list)
    run_dir: Path | None = None


def tiny_spec(nodes: int, nproc: int, args: list[str], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "image": "unused-locally",
        "command": [sys.executable, str(WORKER)],
        "args": args,
        "numNodes": nodes,
        "numProcPerNode": nproc,
        "backend": "gloo",
        "maxEpochs": extra.pop("maxEpochs", 3),
        "runPolicy": {"backoffLimit": 0},
    }
    spec.update(extra)
    return spec


@pytest.fixture
def run_job(tmp_path: Path) -> Callable[..., JobRun]:
    """Run a job; `during(local_run)` runs in the test thread while the job runs in another."""

    def run(
        spec: dict[str, Any], out: Path, during: Callable[[LocalRun], None] | None = None, name: str = "tiny"
    ) -> JobRun:
        lines: list[str] = []
        run_dir = tmp_path / f"run-{name}"
        manifest = TrainJobManifest(JobIdentity(name), spec, tmp_path / "manifest.yaml")
        local = LocalRun(
            manifest,
            RunOptions(run_dir=run_dir, grace_s=20),
            lambda label, text: lines.append(f"{label} | {text}"),
        )
        if during is None:
            status = local.run()
        else:
            result: list[LocalStatus] = []
            worker = threading.Thread(target=lambda: result.append(local.run()))
            worker.start()
            during(local)
            worker.join(timeout=240)
            assert result, "the run did not finish"
            status = result[0]
        ranks = {int(p.stem[4:]): json.loads(p.read_text()) for p in out.glob("rank*.json")}
        return JobRun(status, local.document(), ranks, lines, run_dir)

    return run
