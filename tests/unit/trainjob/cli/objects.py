"""TrainJob objects shaped as the apiserver returns them, for the CLI's views."""

from __future__ import annotations


def trainjob(name: str = "digits", namespace: str = "ml", **status: object) -> dict:
    """A TrainJob with `status` and a fixed creation time."""
    return {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2024-05-01T12:00:00Z"},
        "spec": {"numNodes": 2, "numProcPerNode": 1, "runPolicy": {"backoffLimit": 1}},
        "status": status,
    }
