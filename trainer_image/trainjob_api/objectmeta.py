"""The apiserver's own rules for object metadata: label and annotation keys and values, names.

The CRD can restrict only `metadata.name`; the apiserver checks the rest of a TrainJob's
metadata itself, and the same rules apply to the labels, annotations and node selector of the
worker pods (`spec.podTemplate`). The local validator uses these functions, the schema the
regular expressions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from trainjob_api.paths import child, item

#: A label value: at most 63 characters, alphanumeric at both ends, `-`, `_`, `.` inside; or empty.
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
MAX_LABEL_VALUE = 63
#: A DNS subdomain (at most 253 characters): Service account and PriorityClass names, key prefixes.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MAX_DNS_SUBDOMAIN = 253
#: A label or annotation key: an optional DNS subdomain prefix and `/`, then a name of at most 63.
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
#: The longest qualified name: a 253-character prefix, `/` and a 63-character name.
MAX_QUALIFIED_NAME = MAX_DNS_SUBDOMAIN + 1 + 63
#: The apiserver limits the annotations of an object to 256 KiB (keys and values, in bytes).
MAX_ANNOTATIONS_BYTES = 256 * 1024

KEY_PROBLEM = (
    "must be a qualified name: an optional DNS subdomain prefix and '/', then at most 63 "
    "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
)
LABEL_VALUE_PROBLEM = (
    "must be a label value: at most 63 alphanumeric characters, '-', '_' or '.', starting and "
    "ending with an alphanumeric character (or empty)"
)


def is_qualified_name(key: str) -> bool:
    """Whether `key` is a valid label or annotation key."""
    prefix = key.rpartition("/")[0]
    return len(prefix) <= MAX_DNS_SUBDOMAIN and re.match(QUALIFIED_NAME, key) is not None


def is_label_value(value: str) -> bool:
    """Whether `value` is a valid label value."""
    return len(value) <= MAX_LABEL_VALUE and re.match(LABEL_VALUE, value) is not None


def metadata_problems(metadata: Mapping[str, Any], path: str = "metadata") -> Iterator[tuple[str, str]]:
    """(path, problem) for each label and annotation the apiserver would refuse."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    for key, value in labels.items():
        if not is_qualified_name(key):
            yield item(child(path, "labels"), key), f"the key {KEY_PROBLEM}"
        if isinstance(value, str) and not is_label_value(value):
            yield item(child(path, "labels"), key), f"{value!r} {LABEL_VALUE_PROBLEM}"
    for key in annotations:
        if not is_qualified_name(key):
            yield item(child(path, "annotations"), key), f"the key {KEY_PROBLEM}"
    size = sum(len(key.encode()) + len(str(value).encode()) for key, value in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        yield child(path, "annotations"), f"are {size} bytes long, more than {MAX_ANNOTATIONS_BYTES}"
