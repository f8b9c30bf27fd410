"""The reporter's last word: its final status, left as the worker container's termination message.

When rank 0's reporter closes, it writes its final status fragment to the container's termination
message file before it tries the last status write. The kubelet keeps that file's content in the
pod's status once the container has ended, so the operator can apply it when the attempt's Job
finishes: the final state (the agreed early stop, the last epoch, the checkpoint) lands even when
the last status write did not (the apiserver slow or unreachable at exit, the reporter's access
refused).

Only the reporter's own fields travel this way, and only those that pass the status schema: the
operator writes nothing the reporter could not have written itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from trainjob_api.schema import STATUS
from trainjob_api.status_fields import REPORTER_FIELDS
from trainjob_api.validation import validate_node

#: Where the operator has the worker container's termination message written (the API's default).
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
#: The most the kubelet keeps of a container's termination message.
MAX_MESSAGE_BYTES = 4096
#: The key that marks a termination message as the reporter's final status.
FINAL_STATUS_KEY = "trainjobStatus"
#: The fields kept when the whole fragment does not fit, most important first: how training ended
#: comes before where it got to, and the metrics (any number of names) come last.
FIELD_PRIORITY = ("earlyStopping", "stoppedOnRequest", "checkpoint", "progress", "metrics")


def encode_final_status(fragment: Mapping[str, Any]) -> str:
    """The termination message for a final status fragment, within `MAX_MESSAGE_BYTES`.

    Whole fields are kept in `FIELD_PRIORITY` order while they fit; one that does not is left out
    (the kubelet would cut the message, and a cut message is no JSON).
    """
    kept: dict[str, Any] = {}
    for name in FIELD_PRIORITY:
        if name not in fragment:
            continue
        candidate = {**kept, name: fragment[name]}
        if len(_serialize(candidate).encode()) <= MAX_MESSAGE_BYTES:
            kept = candidate
    return _serialize(kept)


def is_final_status(message: str) -> bool:
    """Whether a termination message is a reporter's final status (rather than a death rattle)."""
    return _fields(message) is not None


def decode_final_status(message: str) -> dict[str, Any]:
    """The reporter fields a termination message carries; empty when it is not a final status.

    A field that the status schema would reject is dropped: the message comes from the user's
    container, and one bad field must not keep the operator's own status write from landing.
    """
    fields = _fields(message)
    if fields is None:
        return {}
    properties = STATUS["properties"]
    return {
        name: value
        for name, value in fields.items()
        if name in REPORTER_FIELDS and not validate_node(value, properties[name], f"status.{name}")
    }


def _fields(message: str) -> dict[str, Any] | None:
    """The final-status object of a termination message, or None when it holds none."""
    if not message.startswith("{"):
        return None
    try:
        document = json.loads(message)
    except ValueError:
        return None
    fields = document.get(FINAL_STATUS_KEY) if isinstance(document, dict) else None
    return fields if isinstance(fields, dict) else None


def _serialize(fields: Mapping[str, Any]) -> str:
    return json.dumps({FINAL_STATUS_KEY: fields}, separators=(",", ":"), allow_nan=False)
