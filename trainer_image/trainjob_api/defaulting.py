"""Schema defaulting, as the apiserver applies it to a TrainJob."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from trainjob_api.openapi import Schema
from trainjob_api.schema import TRAINJOB_SCHEMA


def apply_defaults(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `manifest` with the schema's defaults applied, as the apiserver would apply them.

    Nulls of declared fields are dropped first (the apiserver prunes them), then every absent
    field with a default gets it, top-down, so that a defaulted object (`runPolicy: {}`) is
    defaulted in turn. Unknown fields are kept: `validate` reports them.
    """
    return _default(copy.deepcopy(dict(manifest)), TRAINJOB_SCHEMA)


def _default(value: Any, schema: Schema) -> Any:
    """Apply the defaults below `schema` to `value` in place; returns `value`."""
    if isinstance(value, dict):
        properties: Mapping[str, Schema] = schema.get("properties", {})
        for key in [key for key, item in value.items() if item is None and key in properties]:
            del value[key]
        for key, subschema in properties.items():
            if key not in value and "default" in subschema:
                value[key] = copy.deepcopy(subschema["default"])
            if key in value:
                _default(value[key], subschema)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for item in value.values():
                _default(item, additional)
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            _default(item, schema["items"])
    return value
