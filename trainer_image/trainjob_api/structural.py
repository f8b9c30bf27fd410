"""The OpenAPI checks of one value against its structural schema node (not its children).

Types, enums, bounds, lengths, patterns, formats, required and unknown properties, and list
uniqueness (`x-kubernetes-list-type`), with messages for people. Like the apiserver, a wrong type,
a value outside an enum and a missing required field are *blocking*: CEL rules are not run then.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from trainjob_api.corev1 import PATTERN_DESCRIPTIONS
from trainjob_api.openapi import INT_OR_STRING, LIST_MAP_KEYS, LIST_TYPE, PRESERVE_UNKNOWN, Schema
from trainjob_api.paths import child, item


class Problem(NamedTuple):
    """A schema violation at `path`; `blocking` ones keep the CEL rules from running."""

    path: str
    message: str
    blocking: bool = False


_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def json_type(value: Any) -> str:
    """The JSON type of a Python value, as an error message names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return (
        "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__
    )


def _is_type(value: Any, type_: str) -> bool:
    """Whether `value` is of the OpenAPI type `type_` (integers are numbers, booleans are not)."""
    actual = json_type(value)
    return actual == type_ or (type_ == "number" and actual == "integer")


def has_type(value: Any, schema: Schema) -> bool:
    """Whether `value` has the type `schema` asks for, so that its children can be checked."""
    if schema.get(INT_OR_STRING):
        return json_type(value) in ("integer", "string")
    return "type" not in schema or _is_type(value, schema["type"])


def _show(value: Any) -> str:
    """A value as an error message quotes it."""
    return (
        json.dumps(value)
        if isinstance(value, str | int | float | bool) or value is None
        else json_type(value)
    )


def check_node(value: Any, schema: Schema, path: str, *, report_unknown: bool = True) -> list[Problem]:
    """The problems of `value` itself against `schema`; children are not visited.

    With `report_unknown`, properties the schema does not declare are problems (the apiserver
    would prune them).
    """
    return list(_problems(value, schema, path, report_unknown))


def _problems(value: Any, schema: Schema, path: str, report_unknown: bool) -> Iterator[Problem]:
    if schema.get(INT_OR_STRING):
        if json_type(value) not in ("integer", "string"):
            yield Problem(path, f"must be an integer or a string (got {json_type(value)})", blocking=True)
        elif isinstance(value, str):
            yield from _string_problems(value, schema, path)
        return
    type_ = schema.get("type")
    if type_ is None:
        return
    if not _is_type(value, type_):
        yield Problem(path, f"must be {_TYPE_NAMES[type_]} (got {json_type(value)})", blocking=True)
        return
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(str(choice) for choice in schema["enum"])
        yield Problem(path, f"must be one of {choices} (got {_show(value)})", blocking=True)
    if type_ == "string":
        yield from _string_problems(value, schema, path)
    elif type_ in ("integer", "number"):
        yield from _number_problems(value, schema, path)
    elif type_ == "array":
        yield from _array_problems(value, schema, path)
    elif type_ == "object":
        yield from _object_problems(value, schema, path, report_unknown)


def _size_problems(
    size: int, schema: Schema, path: str, bounds: tuple[str, str], unit: str
) -> Iterator[Problem]:
    """Problems of a length or count against its (minimum, maximum) schema keywords."""
    low, high = bounds
    if low in schema and size < schema[low]:
        yield Problem(
            path, "must not be empty" if schema[low] == 1 else f"must have at least {schema[low]} {unit}"
        )
    if high in schema and size > schema[high]:
        yield Problem(path, f"must have at most {schema[high]} {unit} (got {size})")


def _string_problems(value: str, schema: Schema, path: str) -> Iterator[Problem]:
    yield from _size_problems(len(value), schema, path, ("minLength", "maxLength"), "characters")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        expected = PATTERN_DESCRIPTIONS.get(schema["pattern"], f"a string matching {schema['pattern']}")
        yield Problem(path, f"must be {expected} (got {_show(value)})")
    if schema.get("format") == "date-time" and not _is_date_time(value):
        yield Problem(path, f"{_show(value)} is not an RFC 3339 date-time such as 2024-05-01T12:00:00Z")


def _is_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return "T" in value.upper()


#: The range of `format: int64` (every integer of the schema is one).
INT64 = (-(2**63), 2**63 - 1)


def _number_problems(value: float, schema: Schema, path: str) -> Iterator[Problem]:
    if schema.get("type") == "integer" and not INT64[0] <= value <= INT64[1]:
        yield Problem(path, f"must be a 64-bit integer (got {_show(value)})", blocking=True)
        return
    if "minimum" in schema and value < schema["minimum"]:
        yield Problem(path, f"must be at least {schema['minimum']} (got {_show(value)})")
    if "maximum" in schema and value > schema["maximum"]:
        yield Problem(path, f"must be at most {schema['maximum']} (got {_show(value)})")


def _array_problems(value: list[Any], schema: Schema, path: str) -> Iterator[Problem]:
    yield from _size_problems(len(value), schema, path, ("minItems", "maxItems"), "items")
    list_type = schema.get(LIST_TYPE)
    if list_type == "set":
        keys = [json.dumps(entry, sort_keys=True) for entry in value]
        yield from _duplicates(keys, path, "duplicate item")
    elif list_type == "map":
        fields = schema[LIST_MAP_KEYS]
        keys = [
            ", ".join(f"{field}={_show(entry.get(field))}" for field in fields)
            for entry in value
            if isinstance(entry, dict)
        ]
        yield from _duplicates(keys, path, "duplicate entry with")


def _duplicates(keys: list[str], path: str, what: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            yield Problem(item(path, index), f"{what} {key}")
        seen.add(key)


def _object_problems(
    value: dict[str, Any], schema: Schema, path: str, report_unknown: bool
) -> Iterator[Problem]:
    for key in schema.get("required", ()):
        if value.get(key) is None:
            yield Problem(child(path, key), "is required", blocking=True)
    yield from _size_problems(len(value), schema, path, ("minProperties", "maxProperties"), "entries")
    properties = schema.get("properties")
    if report_unknown and properties is not None and not schema.get(PRESERVE_UNKNOWN):
        for key in value:
            if key not in properties:
                yield Problem(child(path, key), "unknown field (the apiserver would drop it)")
