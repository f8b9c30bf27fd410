"""Structural schemas of core/v1 types, converted from the real apiserver's OpenAPI.

`core_v1_openapi.json` holds the component schemas of the types a TrainJob embeds as a whole
(affinity, volumes, env sources, security contexts), as kube-apiserver serves them
(`hack/vendor_core_schemas.py` refreshes it). Spelling them out instead of keeping unknown
fields bounds every part of a TrainJob: the apiserver refuses unknown fields and arbitrarily
deep junk at apply time, before any Python client (kopf, the operator, the CLI) has to parse it.

The conversion keeps types, formats, enums, required fields and the first sentence of each
description; it drops Go-side defaults (the apiserver applies them to the Job, not here) and the
list and patch extensions (lists stay atomic), and maps quantities, int-or-strings and embedded
object metadata onto this project's own schemas.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainjob_api.openapi import Schema, int_or_string, obj, string, string_map

VENDORED = Path(__file__).with_name("core_v1_openapi.json")
CORE = "io.k8s.api.core.v1."
#: The types whose schemas are vendored, with everything they reference.
ROOTS = tuple(
    CORE + name for name in ("Affinity", "Volume", "EnvVarSource", "PodSecurityContext", "SecurityContext")
)
#: Schema keywords carried over; everything else (defaults, x-kubernetes-* extensions) is dropped.
KEPT = frozenset({"type", "format", "enum", "required", "items", "properties", "additionalProperties"})
#: A resource quantity (`2`, `500m`, `16Gi`), as the apiserver parses it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
_SENTENCE = re.compile(r"^(.+?\.)(\s|$)", re.DOTALL)


def quantity(description: str) -> Schema:
    """A resource quantity: an integer or a string such as `500m` or `16Gi`."""
    return int_or_string(description, pattern=QUANTITY_PATTERN)


def embedded_metadata(description: str) -> Schema:
    """The metadata of an object template inside a TrainJob (labels and annotations only)."""
    return obj(
        description,
        {
            "labels": string_map("Labels of the object."),
            "annotations": string_map("Annotations of the object."),
        },
    )


#: Referenced types converted by this module's own constructors, not from the vendored schemas.
MAPPED = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": quantity,
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": int_or_string,
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": embedded_metadata,
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": lambda description: string(description, format="date-time"),
}


@functools.cache
def _components() -> Mapping[str, Any]:
    return json.loads(VENDORED.read_text())["schemas"]


def kubernetes_version() -> str:
    """The Kubernetes release the vendored schemas come from."""
    return str(json.loads(VENDORED.read_text())["kubernetes"])


def _summary(description: str) -> str:
    """The first sentence of an upstream description."""
    paragraph = description.strip().split("\n\n", 1)[0]
    match = _SENTENCE.match(paragraph)
    return " ".join((match.group(1) if match else paragraph).split())


def _reference(node: Mapping[str, Any]) -> str | None:
    """The component a node stands for: `$ref`, or `allOf: [{$ref}]` as OpenAPI v3 wraps it."""
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    wrapped = node.get("allOf") or []
    if len(wrapped) == 1 and "$ref" in wrapped[0]:
        return str(wrapped[0]["$ref"]).rsplit("/", 1)[-1]
    return None


def _convert(node: Mapping[str, Any], description: str | None = None) -> Schema:
    """A structural schema for an upstream schema node (references resolved)."""
    text = description if description is not None else _summary(node.get("description", ""))
    name = _reference(node)
    if name is not None:
        text = text or _summary(_components().get(name, {}).get("description", ""))
        return MAPPED[name](text) if name in MAPPED else _convert(_components()[name], text)
    schema: Schema = {"description": text} if text else {}
    for key, value in node.items():
        if key not in KEPT:
            continue
        if key == "properties":
            schema[key] = {field: _convert(child) for field, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            schema[key] = _convert(value)
        else:
            schema[key] = copy.deepcopy(value)
    return schema


def core_type(name: str, description: str, overrides: Mapping[str, Schema] | None = None) -> Schema:
    """The schema of core/v1 type `name` (e.g. `Affinity`), with `overrides` replacing properties."""
    schema = _convert(_components()[CORE + name], description)
    schema["properties"] = {**schema["properties"], **(overrides or {})}
    return schema
