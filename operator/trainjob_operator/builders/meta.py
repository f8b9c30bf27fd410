"""Metadata shared by every child of a TrainJob: names, labels and the owner reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainjob_api.contract import JobIdentity
from trainjob_api.names import API_VERSION, KIND, LABEL_MANAGED_BY, LABEL_NAME, MANAGER
from trainjob_api.types import Body


def identity(trainjob: Body) -> JobIdentity:
    """Which TrainJob this is, as the environment contract names it."""
    metadata = trainjob["metadata"]
    return JobIdentity(metadata["name"], metadata.get("namespace") or "default", metadata.get("uid", ""))


def owner_reference(trainjob: Body) -> dict[str, Any]:
    """The controller reference to the TrainJob, so that deleting it deletes the child."""
    metadata = trainjob["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_labels(trainjob: Body) -> dict[str, str]:
    """The label every child and every worker pod of this TrainJob carries."""
    return {LABEL_NAME: trainjob["metadata"]["name"]}


def child_metadata(
    trainjob: Body,
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The metadata of a child object called `name`, owned by the TrainJob."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": identity(trainjob).namespace,
        "labels": {**(labels or {}), **selector_labels(trainjob), LABEL_MANAGED_BY: MANAGER},
        "ownerReferences": [owner_reference(trainjob)],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata
