"""A real Kubernetes control plane and a process-running test node for the test suite.

    with ControlPlane(build_binaries()) as cp, TestNode(cp) as node:
        cp.kubectl("apply", "-f", "job.yaml")

See hack/README.md for how the binaries are built and what the harness does and does not do.
"""

from .binaries import BuildError, build_binaries
from .controlplane import ControlPlane
from .kube import ApiError, Kube
from .node import TestNode
from .tools import Cli, CommandFailed

__all__ = [
    "ApiError",
    "BuildError",
    "Cli",
    "CommandFailed",
    "ControlPlane",
    "Kube",
    "TestNode",
    "build_binaries",
]
