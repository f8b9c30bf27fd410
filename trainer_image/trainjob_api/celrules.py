"""CEL `x-kubernetes-validations` evaluated with cel-python, binding `self` as Kubernetes does.

Values are converted to CEL by their schema (a `number` is a double even when written as 1), a
rule sees the value it is declared on as `self`, and a transition rule (one that mentions
`oldSelf`) runs only when there is an old value to compare with.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes

from trainjob_api.openapi import INT_OR_STRING, VALIDATIONS, Schema
from trainjob_api.paths import join

_OLD_SELF = re.compile(r"\boldSelf\b")


@dataclass(frozen=True)
class RuleFailure:
    """A rule that did not hold: where (with its `fieldPath`) and the message to show."""

    path: str
    message: str


@functools.cache
def _program(expression: str) -> celpy.Runner:
    """The compiled program of a CEL expression (compiled once per process)."""
    environment = celpy.Environment()
    return environment.program(environment.compile(expression))


def is_transition_rule(rule: Mapping[str, Any]) -> bool:
    """Whether the rule compares with the old value (`oldSelf`), so it only runs on updates."""
    return bool(_OLD_SELF.search(rule["rule"]))


def to_cel(value: Any, schema: Schema) -> Any:
    """`value` as a CEL value typed by its schema, as the apiserver converts it."""
    if value is None:
        return None
    if schema.get(INT_OR_STRING):
        return celtypes.StringType(value) if isinstance(value, str) else celtypes.IntType(value)
    type_ = schema.get("type")
    if type_ == "number":
        return celtypes.DoubleType(float(value))
    if type_ == "integer":
        return celtypes.IntType(value)
    if type_ == "array":
        return celtypes.ListType([to_cel(entry, schema.get("items", {})) for entry in value])
    if type_ == "object" and isinstance(schema.get("additionalProperties"), dict):
        additional = schema["additionalProperties"]
        return celtypes.MapType(
            {celtypes.StringType(key): to_cel(entry, additional) for key, entry in value.items()}
        )
    if type_ == "object" and "properties" in schema:
        # Unknown fields are pruned before the rules run: a rule never sees them.
        properties = schema["properties"]
        return celtypes.MapType(
            {
                celtypes.StringType(key): to_cel(entry, properties[key])
                for key, entry in value.items()
                if key in properties
            }
        )
    return celpy.json_to_cel(value)


def check_rules(value: Any, old: Any, schema: Schema, path: str) -> list[RuleFailure]:
    """The rules of `schema` that `value` (at `path`, formerly `old`) breaks."""
    failures = []
    activation: dict[str, Any] = {"self": to_cel(value, schema)}
    if old is not None:
        activation["oldSelf"] = to_cel(old, schema)
    for rule in schema.get(VALIDATIONS, ()):
        if is_transition_rule(rule) and old is None:
            continue
        where = join(path, rule["fieldPath"]) if "fieldPath" in rule else path
        try:
            holds = _program(rule["rule"]).evaluate(activation)
        except celpy.CELEvalError as error:
            failures.append(
                RuleFailure(where, f"rule {rule['rule']!r} could not be evaluated: {error.args[0]}")
            )
            continue
        if not (isinstance(holds, celtypes.BoolType) and bool(holds)):
            failures.append(RuleFailure(where, _message(rule, activation)))
    return failures


def _message(rule: Mapping[str, Any], activation: Mapping[str, Any]) -> str:
    """The rule's message: its messageExpression if that evaluates, else its message."""
    if "messageExpression" in rule:
        try:
            return str(_program(rule["messageExpression"]).evaluate(dict(activation)))
        except celpy.CELEvalError:
            pass
    return rule.get("message") or f"failed rule: {rule['rule']}"
