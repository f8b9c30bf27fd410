"""Shared e2e fixtures: the CRD and the operator running as a process."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ControlPlane
from tests.e2e.operator_process import start_operator, stop_operator
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
    process = start_operator(control_plane, namespace, tmp_path / "operator.log")
    yield process
    stop_operator(process)
