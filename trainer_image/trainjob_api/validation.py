"""Validate a TrainJob manifest without an apiserver, as the apiserver would.

The manifest is defaulted first (as the apiserver does), then every node is checked against
`TRAINJOB_SCHEMA` (types, enums, bounds, required and unknown fields), and the CEL rules of the
nodes that passed are evaluated. The local runner (`trainjob run FILE.yaml`) uses this.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from trainjob_api.celrules import RuleFailure, check_rules
from trainjob_api.defaulting import apply_defaults
from trainjob_api.names import API_VERSION, KIND
from trainjob_api.objectmeta import metadata_problems
from trainjob_api.openapi import LIST_MAP_KEYS, LIST_TYPE, Schema
from trainjob_api.paths import child, item
from trainjob_api.schema import TRAINJOB_SCHEMA
from trainjob_api.structural import Problem, check_node, has_type

#: Where unknown fields are fine: the apiserver validates ObjectMeta itself and never prunes it.
UNPRUNED = frozenset({"metadata"})

__all__ = ["FieldError", "apply_defaults", "validate", "validate_node"]


@dataclass(frozen=True)
class FieldError:
    """One problem of a manifest: the field (`spec.numNodes`; empty for the object) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def validate(manifest: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> list[FieldError]:
    """Every problem of a TrainJob manifest; empty when the apiserver would accept it.

    With `old` (the stored object), the transition rules run too, as on an update: for example
    `spec.image` cannot change once `old.status.startTime` is set.
    """
    if not isinstance(manifest, Mapping):
        return [FieldError("", "a TrainJob manifest must be a mapping")]
    errors = _identity_errors(manifest)
    defaulted = apply_defaults(manifest)
    old_defaulted = apply_defaults(old) if old is not None else None
    return errors + _validate(defaulted, old_defaulted, TRAINJOB_SCHEMA, "")


def validate_node(value: Any, schema: Schema, path: str) -> list[FieldError]:
    """Every problem of one value (a part of a TrainJob at `path`) against its schema."""
    return _validate(value, None, schema, path)


def _identity_errors(manifest: Mapping[str, Any]) -> list[FieldError]:
    """apiVersion, kind and metadata: the parts the apiserver checks before the schema."""
    errors = []
    if manifest.get("apiVersion") != API_VERSION:
        errors.append(FieldError("apiVersion", f"must be {API_VERSION}"))
    if manifest.get("kind") != KIND:
        errors.append(FieldError("kind", f"must be {KIND}"))
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping):
        return [*errors, FieldError("metadata", "is required (with a name)")]
    if not isinstance(metadata.get("name"), str) and not isinstance(metadata.get("generateName"), str):
        errors.append(FieldError("metadata.name", "is required"))
    for key in ("labels", "annotations"):
        entries = metadata.get(key) or {}
        if not isinstance(entries, Mapping) or not all(isinstance(entry, str) for entry in entries.values()):
            return [*errors, FieldError(f"metadata.{key}", "must map strings to strings")]
    return errors + [FieldError(path, problem) for path, problem in metadata_problems(metadata)]


def _validate(value: Any, old: Any, schema: Schema, path: str) -> list[FieldError]:
    """The schema problems of the whole tree; then, unless one of them is blocking, the rule failures.

    Like the apiserver, CEL rules are skipped altogether after a wrong type, a value outside an
    enum or a missing required field, and run everywhere otherwise.
    """
    problems = list(_structural(value, schema, path))
    errors = [FieldError(problem.path, problem.message) for problem in problems]
    if any(problem.blocking for problem in problems):
        return [*errors, FieldError("", "the validation rules were not checked: fix the errors above first")]
    return errors + [
        FieldError(failure.path, failure.message) for failure in _rules(value, old, schema, path)
    ]


def _structural(value: Any, schema: Schema, path: str) -> Iterator[Problem]:
    """Every schema problem of `value` and below (children only where the type is right)."""
    yield from check_node(value, schema, path, report_unknown=path not in UNPRUNED)
    if has_type(value, schema):
        for subvalue, _, subschema, subpath in _children(value, None, schema, path):
            yield from _structural(subvalue, subschema, subpath)


def _rules(value: Any, old: Any, schema: Schema, path: str) -> Iterator[RuleFailure]:
    """The failures of every CEL rule at `value` and below, children first."""
    for subvalue, subold, subschema, subpath in _children(value, old, schema, path):
        yield from _rules(subvalue, subold, subschema, subpath)
    yield from check_rules(value, old, schema, path)


def _children(value: Any, old: Any, schema: Schema, path: str) -> list[tuple[Any, Any, Schema, str]]:
    """(value, old value, schema, path) of every child of `value` that has a schema.

    Old values are correlated as Kubernetes does for transition rules: by property name, by map
    key, and by the keys of `x-kubernetes-list-type: map` lists.
    """
    if isinstance(value, dict):
        olds = old if isinstance(old, dict) else {}
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties")
        children = [
            (entry, olds.get(key), properties[key], child(path, key))
            for key, entry in value.items()
            if key in properties
        ]
        if isinstance(additional, dict):
            children += [(entry, olds.get(key), additional, item(path, key)) for key, entry in value.items()]
        return children
    if isinstance(value, list) and "items" in schema:
        olds_by_key = _list_map_index(old, schema)
        return [
            (entry, olds_by_key.get(_list_map_key(entry, schema)), schema["items"], item(path, index))
            for index, entry in enumerate(value)
        ]
    return []


def _list_map_key(entry: Any, schema: Schema) -> tuple[Any, ...] | None:
    """The key of an item of a `map` list, or None for other lists (whose items are not correlated)."""
    if schema.get(LIST_TYPE) != "map" or not isinstance(entry, dict):
        return None
    return tuple(entry.get(field) for field in schema[LIST_MAP_KEYS])


def _list_map_index(old: Any, schema: Schema) -> dict[tuple[Any, ...] | None, Any]:
    """The old items of a `map` list by key."""
    if not isinstance(old, list):
        return {}
    index = {_list_map_key(entry, schema): entry for entry in old}
    index.pop(None, None)
    return index
