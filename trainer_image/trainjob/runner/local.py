"""Running a TrainJob as local worker processes, with the environment pods get."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from trainjob.processes import LineSink, ProcessGroup, ProcessSpec
from trainjob.reporting.sinks import read_status_file
from trainjob.runner.manifest import ManifestError, TrainJobManifest
from trainjob.runner.run_status import LocalStatus, utc_timestamp
from trainjob_api.contract import (
    TRAINJOB_STATUS_FILE,
    WORKER_ENV_DEFAULTS,
    is_reserved,
    node_environment,
    process_environment,
    worker_command,
)

LOCAL_MASTER_ADDR = "127.0.0.1"
STATUS_FILE_NAME = "status.json"


@dataclass
class RunOptions:
    """How to run locally: where run files go, whether to resume, how long a graceful stop may take."""

    run_dir: Path
    resume: bool = False
    grace_s: float = 30.0
    cwd: Path = field(default_factory=Path.cwd)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class LocalRun:
    """One TrainJob run on this machine: `numNodes` node processes (each a pod's worth).

    A node with several processes runs under the node launcher, exactly as in a pod. A failed
    worker stops every process; the group restarts (resuming from its checkpoint) while
    `runPolicy.backoffLimit` allows; `activeDeadlineSeconds` ends the run as Failed.
    """

    def __init__(self, manifest: TrainJobManifest, options: RunOptions, on_line: LineSink) -> None:
        self.manifest = manifest
        self.options = options
        self.on_line = on_line
        spec = manifest.spec
        self.nnodes = int(spec["numNodes"])
        self.nproc = int(spec["numProcPerNode"])
        self.status = LocalStatus(total_workers=self.nnodes)
        self.status_file = options.run_dir / STATUS_FILE_NAME
        self._group: ProcessGroup | None = None

    def worker_pids(self) -> dict[str, int]:
        """Process ids of the current group's node processes, by label (empty before the start)."""
        group = self._group
        return group.pids() if group is not None else {}

    def reported_status(self) -> dict[str, Any]:
        """What the rank-0 reporter has written so far."""
        return read_status_file(self.status_file)

    def document(self) -> dict[str, Any]:
        """The job's status now, shaped as the CR's."""
        return self.status.document(self.reported_status())

    def run(self) -> LocalStatus:
        """Run to the end (success, failure past the backoff limit, deadline, or interruption)."""
        self._prepare_run_dir()
        run_policy = self.manifest.spec.get("runPolicy") or {}
        backoff_limit = int(run_policy.get("backoffLimit", 0))
        deadline_s = run_policy.get("activeDeadlineSeconds")
        deadline = time.monotonic() + float(deadline_s) if deadline_s else None
        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {
                signum: signal.signal(signum, self._interrupt) for signum in (signal.SIGINT, signal.SIGTERM)
            }
        try:
            while True:
                self._group = ProcessGroup(self._node_specs(_free_port()), self.on_line, self.options.grace_s)
                self._group.start()
                self.status.exits = self._group.wait(deadline)
                if deadline is not None and time.monotonic() >= deadline:
                    self.status.deadline_exceeded = True
                if (
                    self.status.failure is None
                    or self.status.deadline_exceeded
                    or self.status.interrupted
                    or self.status.restarts >= backoff_limit
                ):
                    break
                self.status.restarts += 1
                failure = self.status.failure
                self.on_line(
                    "runner",
                    f"{failure.label} failed ({failure.reason}); restarting the group "
                    f"({self.status.restarts}/{backoff_limit})",
                )
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.status.completion_time = utc_timestamp()
        return self.status

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        group = self._group
        if group is None:
            return
        if group.stopping:
            self.on_line("runner", "interrupted again: killing every worker")
            group.kill()
            return
        self.status.interrupted = True
        self.on_line("runner", f"{signal.Signals(signum).name}: asking every worker to stop gracefully")
        group.stop()

    def _prepare_run_dir(self) -> None:
        run_dir = self.options.run_dir
        if run_dir.exists() and not self.options.resume:
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)

    def _trainer_spec(self) -> dict[str, Any]:
        """The spec, with a relative checkpoint path placed in the run directory."""
        spec = dict(self.manifest.spec)
        checkpoint = spec.get("checkpoint")
        if checkpoint and not os.path.isabs(checkpoint["path"]):
            spec["checkpoint"] = {**checkpoint, "path": str(self.options.run_dir / checkpoint["path"])}
        return spec

    def _node_specs(self, master_port: int) -> list[ProcessSpec]:
        spec = self._trainer_spec()
        command, args = worker_command(spec)
        base = self._base_environment()
        shared = node_environment(self.manifest.identity, spec, LOCAL_MASTER_ADDR, master_port)
        specs = []
        for node_rank in range(self.nnodes):
            env = {**base, **shared, **process_environment(node_rank, 0, self.nproc)}
            if self.nproc > 1:
                env = {key: value for key, value in env.items() if key not in ("RANK", "LOCAL_RANK")}
            specs.append(
                ProcessSpec(f"node-{node_rank}", [*command, *args], env, cwd=self._working_dir(spec))
            )
        return specs

    def _working_dir(self, spec: Mapping[str, Any]) -> str:
        working_dir = spec.get("workingDir")
        if working_dir and Path(working_dir).is_dir():
            return str(working_dir)
        return str(self.options.cwd)

    def _base_environment(self) -> dict[str, str]:
        environ = {key: value for key, value in self.options.environ.items() if not is_reserved(key)}
        python_bin = str(Path(sys.executable).parent)
        environ["PATH"] = os.pathsep.join([python_bin, environ.get("PATH", "")])
        environ.update(WORKER_ENV_DEFAULTS)
        environ.setdefault(
            "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // (self.nnodes * self.nproc)))
        )
        for index, variable in enumerate(self.manifest.spec.get("env") or []):
            if "value" not in variable:
                raise ManifestError(
                    f"spec.env[{index}] ({variable.get('name')}): only literal values run locally; "
                    "valueFrom needs a cluster"
                )
            environ[variable["name"]] = str(variable["value"])
        environ[TRAINJOB_STATUS_FILE] = str(self.status_file)
        return environ


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCAL_MASTER_ADDR, 0))
        return int(probe.getsockname()[1])
