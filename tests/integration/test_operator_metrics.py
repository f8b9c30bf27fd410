"""The operator's TrainJobs-by-phase gauge on the real apiserver, and what status writes cost it."""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ControlPlane
from tests.cluster.controlplane import free_port
from tests.cluster.processes import spawn, stop
from tests.e2e.support import TRAINJOBS, install_crd

pytestmark = pytest.mark.integration
PHASE_HANDLED = "Handler 'phase' succeeded."


class Operator:
    """The operator as a process, watching one namespace, with its metrics endpoint."""

    def __init__(self, cp: ControlPlane, namespace: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        argv = [sys.executable, "-m", "trainjob_operator", "--namespace", namespace, "--liveness", ""]
        argv += ["--metrics-port", str(self.port), "--metrics-host", "127.0.0.1"]
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.process = spawn(argv, log=log, env=env)

    def gauge(self) -> list[str]:
        """The lines of the TrainJobs-by-phase gauge."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return []
        return [line for line in text.splitlines() if line.startswith("trainjob_operator_trainjobs{")]

    def wait_for_gauge(self, expected: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.gauge() != expected:
            assert self.process.poll() is None, "the operator exited"
            assert time.monotonic() < deadline, f"gauge {self.gauge()}, expected {expected}"
            time.sleep(0.2)


@pytest.fixture
def operator(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    install_crd(control_plane)
    running = Operator(control_plane, namespace, tmp_path / "operator.log")
    yield running
    stop(running.process)


def test_status_writes_that_keep_the_phase_do_not_reach_the_phase_handler(
    control_plane: ControlPlane, namespace: str, operator: Operator
) -> None:
    trainjobs = TRAINJOBS.format(namespace=namespace)
    manifest = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "gauge", "namespace": namespace},
        "spec": {"image": "trainer", "command": ["python", "train.py"], "numNodes": 1, "maxEpochs": 1},
    }
    control_plane.admin.create(trainjobs, manifest)
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Created"} 1'])
    handled = operator.log.read_text().count(PHASE_HANDLED)
    for step in range(20):  # what a reporter writes, every 10 s in a pod
        progress = {"progress": {"epoch": 0, "step": step, "totalEpochs": 1}}
        control_plane.admin.patch(f"{trainjobs}/gauge/status", {"status": progress}, kind="merge")
    control_plane.admin.patch(f"{trainjobs}/gauge/status", {"status": {"phase": "Running"}}, kind="merge")
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Running"} 1'])
    assert operator.log.read_text().count(PHASE_HANDLED) == handled + 1, "only the phase change"
    control_plane.admin.delete(f"{trainjobs}/gauge")
    operator.wait_for_gauge([])
