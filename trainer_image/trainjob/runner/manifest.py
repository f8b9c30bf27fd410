"""Reading a TrainJob manifest and checking it against the CRD's own schema and rules."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from trainjob_api.contract import JobIdentity

API_VERSION = "trainjob.dev/v1alpha1"
KIND = "TrainJob"


class ManifestError(ValueError):
    """A manifest that `kubectl apply` would reject too; the message names the field."""


@dataclass(frozen=True)
class TrainJobManifest:
    """A validated TrainJob: who it is and its spec with the CRD's defaults applied."""

    identity: JobIdentity
    spec: dict[str, Any]
    source: Path


def load_manifest(path: str | os.PathLike[str]) -> TrainJobManifest:
    """Read the TrainJob in `path` (the first one, if the file has several documents).

    Raises `ManifestError` with every problem found, each naming its field.
    """
    source = Path(path)
    try:
        documents = [doc for doc in yaml.safe_load_all(source.read_text()) if doc is not None]
    except FileNotFoundError as error:
        raise ManifestError(f"{source}: no such file") from error
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: not valid YAML: {error}") from error
    except RecursionError as error:
        raise ManifestError(f"{source}: nested too deeply to be a TrainJob") from error
    trainjobs = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") == KIND]
    if not trainjobs:
        raise ManifestError(f"{source}: no document with kind: {KIND}")
    return parse_manifest(trainjobs[0], source)


def parse_manifest(document: dict[str, Any], source: Path) -> TrainJobManifest:
    """Validate one TrainJob document as the apiserver would and apply the schema's defaults."""
    from trainjob_api.validation import apply_defaults, validate

    if document.get("apiVersion") != API_VERSION:
        raise ManifestError(f"{source}: apiVersion must be {API_VERSION}, got {document.get('apiVersion')!r}")
    errors = validate(document)
    if errors:
        lines = "\n".join(f"  {error}" for error in errors)
        raise ManifestError(f"{source}: the TrainJob is invalid:\n{lines}")
    defaulted = apply_defaults(document)
    metadata = defaulted.get("metadata") or {}
    identity = JobIdentity(
        name=str(metadata.get("name", "")),
        namespace=str(metadata.get("namespace") or "default"),
        uid=f"local-{os.getpid()}",
    )
    return TrainJobManifest(identity, defaulted["spec"], source)
