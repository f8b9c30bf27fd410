"""Field paths as Kubernetes prints them: `spec.env[2].name`, `spec.resourcesPerNode.limits[cpu]`."""

from __future__ import annotations


def child(path: str, key: str) -> str:
    """The path of an object's property."""
    return f"{path}.{key}" if path else key


def item(path: str, index: int | str) -> str:
    """The path of a list item (by index) or a map entry (by key)."""
    return f"{path}[{index}]"


def join(path: str, field_path: str) -> str:
    """The path of a rule's `fieldPath` (`.spec.image`) below `path`."""
    return f"{path}{field_path}" if path else field_path.lstrip(".")
