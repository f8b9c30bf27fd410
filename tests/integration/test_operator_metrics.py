"""The operator's TrainJobs-by-phase gauge on the real apiserver, and what status writes cost it."""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chart import CHART
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

    def scrape(self) -> str:
        """The metrics endpoint's answer ("" while it does not answer)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return ""

    def gauge(self) -> list[str]:
        """The lines of the TrainJobs-by-phase gauge."""
        return [
            line for line in self.scrape().splitlines() if line.startswith("trainjob_operator_trainjobs{")
        ]

    def job_lines(self) -> list[str]:
        """The lines of the per-job gauges."""
        return [line for line in self.scrape().splitlines() if line.startswith("trainjob_operator_job_")]

    def wait_for_gauge(self, expected: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.gauge() != expected:
            assert self.process.poll() is None, "the operator exited"
            assert time.monotonic() < deadline, f"gauge {self.gauge()}, expected {expected}"
            time.sleep(0.2)


def trainjob_manifest(name: str, namespace: str) -> dict:
    """A TrainJob of one node, which stays Created: its pod asks for a node label no node has (an
    e2e test earlier in the same test process may have started a test node, which would run it)."""
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "image": "trainer",
            "command": ["python", "train.py"],
            "numNodes": 1,
            "maxEpochs": 10,
            "podTemplate": {"nodeSelector": {"example.com/nowhere": "true"}},
        },
    }


@pytest.fixture
def operator(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Iterator[Operator]:
    install_crd(control_plane)
    running = Operator(control_plane, namespace, tmp_path / "operator.log")
    yield running
    stop(running.process)


def phases_since(cp: ControlPlane, trainjobs: str, created: dict[str, Any]) -> list[str]:
    """Every phase a TrainJob went through since its creation, in order, from the apiserver's
    history of it (a watch from its first resourceVersion); no status is Pending, as kopf sees it."""
    phases = [(created.get("status") or {}).get("phase") or "Pending"]
    name = created["metadata"]["name"]
    version = created["metadata"]["resourceVersion"]
    for event in cp.admin.watch(trainjobs, version, timeout_seconds=1, fieldSelector=f"metadata.name={name}"):
        if event["type"] in ("ADDED", "MODIFIED"):
            phase = (event["object"].get("status") or {}).get("phase") or "Pending"
            if phase != phases[-1]:
                phases.append(phase)
    return phases


def test_status_writes_that_keep_the_phase_do_not_reach_the_phase_handler(
    control_plane: ControlPlane, namespace: str, operator: Operator
) -> None:
    trainjobs = TRAINJOBS.format(namespace=namespace)
    created = control_plane.admin.create(trainjobs, trainjob_manifest("gauge", namespace))
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Created"} 1'])
    for step in range(20):  # what a reporter writes, every 10 s in a pod
        progress = {"progress": {"epoch": 0, "step": step, "totalEpochs": 1}}
        control_plane.admin.patch(f"{trainjobs}/gauge/status", {"status": progress}, kind="merge")
    control_plane.admin.patch(f"{trainjobs}/gauge", {"spec": {"runPolicy": {"suspend": True}}}, kind="merge")
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Suspended"} 1'])
    # At most one call per phase the TrainJob went through (the apiserver's history of it says
    # which): the 20 writes add none.
    phases = phases_since(control_plane, trainjobs, created)
    handled = operator.log.read_text().count(PHASE_HANDLED)
    assert phases[-1] == "Suspended" and 0 < handled <= len(phases), f"{handled} calls for phases {phases}"
    control_plane.admin.delete(f"{trainjobs}/gauge")
    operator.wait_for_gauge([])


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the chart's Grafana dashboard (panels and template variables)."""
    dashboard = json.loads((CHART / "dashboards" / "trainjob.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [
        variable["query"]["query"]
        for variable in dashboard["templating"]["list"]
        if variable["type"] == "query"
    ]
    return queries


def test_running_jobs_have_gauges_that_every_dashboard_query_names_and_that_go_when_they_end(
    control_plane: ControlPlane, namespace: str, operator: Operator
) -> None:
    trainjobs = TRAINJOBS.format(namespace=namespace)
    control_plane.admin.create(trainjobs, trainjob_manifest("curves", namespace))
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Created"} 1'])
    assert operator.job_lines() == [], "no gauges before the job runs"
    status = {  # what a reporter writes, and the phase the operator would write
        "phase": "Running",
        "progress": {"epoch": 3, "totalEpochs": 10, "step": 30, "percent": 25.0, "etaSeconds": 90.5,
                     "samplesPerSecond": 1234.5},
        "metrics": {"loss": 0.5, "valLoss": 0.625, "lr": 0.01, "best": 0.625, "bestEpoch": 2,
                    "values": {"loss": 0.5, "val_loss": 0.625, "lr": 0.01, "val_accuracy": 0.875}},
    }  # fmt: skip
    control_plane.admin.patch(f"{trainjobs}/curves/status", {"status": status}, kind="merge")
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Running"} 1'])
    labels = f'namespace="{namespace}",name="curves"'
    lines = operator.job_lines()
    for expected in [
        f"trainjob_operator_job_progress_percent{{{labels}}} 25.0",
        f"trainjob_operator_job_epoch{{{labels}}} 3.0",
        f"trainjob_operator_job_loss{{{labels}}} 0.5",
        f"trainjob_operator_job_val_loss{{{labels}}} 0.625",
        f'trainjob_operator_job_metric{{{labels},metric="val_accuracy"}} 0.875',
    ]:
        assert expected in lines, lines
    text = operator.scrape()
    exported = set(re.findall(r"^# TYPE (\S+) ", text, re.MULTILINE))
    queries = dashboard_queries()
    assert len(queries) >= 9
    for query in queries:
        named = set(re.findall(r"\btrainjob_\w+", query))
        assert named, f"{query!r} names no trainjob metric"
        assert named <= exported, f"{query!r} names {named - exported}, not exported"
    control_plane.admin.patch(f"{trainjobs}/curves/status", {"status": {"phase": "Succeeded"}}, kind="merge")
    operator.wait_for_gauge(['trainjob_operator_trainjobs{phase="Succeeded"} 1'])
    assert operator.job_lines() == [], "the series go when the job ends"
