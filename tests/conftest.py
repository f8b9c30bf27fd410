"""Session fixtures: the real control plane built by hack/controlplane.sh, and its test node."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster import BuildError, ControlPlane, TestNode, build_binaries


def _unavailable(reason: str) -> None:
    """Skip on a developer machine without the toolchain; fail loudly in CI (CI=true)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"control plane unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"control plane unavailable: {reason}")


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler, once per session."""
    if os.geteuid() != 0:
        _unavailable("the pod network needs root (network namespaces)")
    try:
        bin_dir = build_binaries()
    except BuildError as error:
        _unavailable(str(error))
    with ControlPlane(bin_dir) as cp:
        yield cp


@pytest.fixture(scope="session")
def test_node(control_plane: ControlPlane) -> Iterator[TestNode]:
    """The node that runs pods as local processes, once per session."""
    with TestNode(control_plane) as node:
        yield node
