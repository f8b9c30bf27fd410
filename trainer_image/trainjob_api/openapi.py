"""Small constructors for structural OpenAPI v3 schemas with CEL rules, as CRDs use them.

Every constructor takes the field's description first, so that no field goes undocumented.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Schema = dict[str, Any]

#: The schema extension that carries CEL rules.
VALIDATIONS = "x-kubernetes-validations"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"


def _schema(description: str, **fields: Any) -> Schema:
    """A schema with the given fields; the ones that are None are left out."""
    return {"description": description, **{key: value for key, value in fields.items() if value is not None}}


def string(
    description: str,
    *,
    enum: Sequence[str] | None = None,
    default: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    format: str | None = None,
) -> Schema:
    """A string field (enum members and the default are stored as plain strings)."""
    return _schema(
        description,
        type="string",
        enum=[str(value) for value in enum] if enum is not None else None,
        default=str(default) if default is not None else None,
        minLength=min_length,
        maxLength=max_length,
        pattern=pattern,
        format=format,
    )


def integer(
    description: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> Schema:
    """An integer field (int64 in Kubernetes)."""
    return _schema(
        description, type="integer", format="int64", minimum=minimum, maximum=maximum, default=default
    )


def number(description: str, *, minimum: float | None = None, default: float | None = None) -> Schema:
    """A floating-point field; integers are accepted too."""
    return _schema(description, type="number", minimum=minimum, default=default)


def boolean(description: str, *, default: bool | None = None) -> Schema:
    """A boolean field."""
    return _schema(description, type="boolean", default=default)


def array(
    description: str,
    items: Schema,
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    list_type: str | None = None,
    map_keys: Sequence[str] | None = None,
) -> Schema:
    """A list field; `list_type` is `atomic`, `set` or `map` (with `map_keys`)."""
    fields: dict[str, Any] = {LIST_TYPE: list_type, LIST_MAP_KEYS: list(map_keys) if map_keys else None}
    return _schema(description, type="array", items=items, minItems=min_items, maxItems=max_items, **fields)


def obj(
    description: str,
    properties: Mapping[str, Schema],
    *,
    required: Iterable[str] = (),
    rules: Sequence[Schema] = (),
    default: Mapping[str, Any] | None = None,
    preserve_unknown: bool = False,
) -> Schema:
    """An object with known properties; unknown ones are pruned unless `preserve_unknown`."""
    fields: dict[str, Any] = {
        PRESERVE_UNKNOWN: True if preserve_unknown else None,
        VALIDATIONS: list(rules) or None,
    }
    return _schema(
        description,
        type="object",
        properties=dict(properties),
        required=sorted(required) or None,
        default=dict(default) if default is not None else None,
        **fields,
    )


def string_map(
    description: str,
    *,
    max_properties: int | None = None,
    rules: Sequence[Schema] = (),
    values: Schema | None = None,
) -> Schema:
    """A map of strings to strings (labels, annotations, node selectors); `values` bounds the values."""
    return _schema(
        description,
        type="object",
        additionalProperties=values or {"type": "string"},
        maxProperties=max_properties,
        **{VALIDATIONS: list(rules) or None},
    )


def map_of(description: str, values: Schema) -> Schema:
    """A map of strings to values of one schema."""
    return _schema(description, type="object", additionalProperties=values)


def free_form(description: str) -> Schema:
    """An object kept as given: for nested Kubernetes types whose full schema is impractical here."""
    return _schema(description, type="object", **{PRESERVE_UNKNOWN: True})


def int_or_string(description: str, *, pattern: str | None = None) -> Schema:
    """An int-or-string field (a Kubernetes quantity, a port name or number)."""
    return _schema(
        description,
        anyOf=[{"type": "integer"}, {"type": "string"}],
        pattern=pattern,
        **{INT_OR_STRING: True},
    )


def rule(
    expression: str,
    message: str | None = None,
    *,
    message_expression: str | None = None,
    field_path: str | None = None,
    reason: str | None = None,
) -> Schema:
    """A CEL validation rule (`x-kubernetes-validations` entry); `self` is the value it sits on."""
    fields = {"rule": expression, "message": message, "messageExpression": message_expression}
    fields |= {"fieldPath": field_path, "reason": reason}
    return {key: value for key, value in fields.items() if value is not None}


def with_rules(schema: Schema, *rules: Schema) -> Schema:
    """A copy of `schema` with CEL rules added."""
    return {**schema, VALIDATIONS: [*schema.get(VALIDATIONS, ()), *rules]}
