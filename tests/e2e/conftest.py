"""Shared e2e fixtures: the CRD and the operator running as a process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ControlPlane
from tests.e2e.support import install_crd


@pytest.fixture
def crd(control_plane: ControlPlane) -> None:
    """The TrainJob CRD, installed."""
    install_crd(control_plane)


@pytest.fixture
def operator(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, crd: None
) -> Iterator[subprocess.Popen[bytes]]:
    """The CRD installed with kubectl, and the operator running as `python -m trainjob_operator`."""
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainjob_operator",
            "--namespace",
            namespace,
            "--liveness",
            "",
            "--metrics-port",
            "0",
            "--resync-seconds",
            "5",
        ],
        env={**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
