"""What a kubelet derives from a pod spec before it starts a container: the environment.

Pure functions over the pod as a JSON dict; ConfigMaps and Secrets come in through a
lookup callable so the rules can be read (and tested) without an apiserver.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

Pod = dict[str, Any]
# lookup(kind, namespace, name) -> the object's data as text, or None if it does not exist
Lookup = Callable[[str, str, str], "dict[str, str] | None"]

_VAR_REF = re.compile(r"\$(\$|\(([^)]*)\))")
_MAP_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")
_SCALE = {
    **{s: Decimal(10) ** e for s, e in zip("num", (-9, -6, -3), strict=True)},
    "": Decimal(1),
    **{s: Decimal(10) ** (3 * i) for i, s in enumerate("kMGTPE", start=1)},
    **{s + "i": Decimal(2) ** (10 * i) for i, s in enumerate("KMGTPE", start=1)},
}


class MissingReference(Exception):
    """A non-optional ConfigMap, Secret or key the container needs does not exist (yet)."""


def parse_quantity(text: str) -> Decimal:
    """A resource quantity ("500m", "1Gi", "2e3", "64") as a number."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"invalid quantity {text!r}")
    return Decimal(match.group(1)) * _SCALE[match.group(2)]


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes $(VAR) expansion: known names are replaced, $$ is a literal $, unknown refs stay."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "$":
            return "$"
        return env.get(match.group(2), match.group(0))

    return _VAR_REF.sub(replace, value)


def field_value(pod: Pod, path: str) -> str:
    """The value of a downward API fieldRef (metadata.*, spec.nodeName, status.podIP, ...)."""
    meta, spec, status = pod["metadata"], pod["spec"], pod.get("status", {})
    if match := _MAP_KEY.match(path):
        return meta.get(match.group(1), {}).get(match.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted(meta.get(path.split(".")[1], {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.podIP": status.get("podIP", ""),
        "status.hostIPs": ",".join(i["ip"] for i in status.get("hostIPs", [])),
        "status.podIPs": ",".join(i["ip"] for i in status.get("podIPs", [])),
    }
    if path not in simple:
        raise ValueError(f"unsupported fieldRef {path!r}")
    return simple[path]


def resource_value(pod: Pod, ref: Mapping[str, Any], allocatable: Mapping[str, str]) -> str:
    """The value of a resourceFieldRef: the container's limit/request (node allocatable if unset)."""
    container = next(c for c in pod["spec"]["containers"] if c["name"] == ref.get("containerName", ""))
    kind, _, resource = ref["resource"].partition(".")
    resources = container.get("resources", {})
    value = resources.get(kind, {}).get(resource) or (
        resources.get("limits", {}).get(resource) if kind == "requests" else None
    )
    quantity = parse_quantity(value if value is not None else allocatable.get(resource, "0"))
    divisor = parse_quantity(ref.get("divisor", "1"))
    return str(math.ceil(quantity / divisor))


def _key_value(ref: Mapping[str, Any], kind: str, namespace: str, lookup: Lookup) -> str | None:
    data = lookup(kind, namespace, ref["name"])
    if data is not None and ref["key"] in data:
        return data[ref["key"]]
    if ref.get("optional"):
        return None
    raise MissingReference(f"{kind} {namespace}/{ref['name']} has no key {ref['key']!r}")


def container_env(
    pod: Pod,
    container: Mapping[str, Any],
    service_env: Mapping[str, str],
    lookup: Lookup,
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """The environment the kubelet gives a container: service variables, envFrom, then env."""
    namespace = pod["metadata"]["namespace"]
    env = dict(service_env)
    for source in container.get("envFrom", []):
        kind, ref = (
            ("configmaps", source["configMapRef"])
            if "configMapRef" in source
            else ("secrets", source["secretRef"])
        )
        data = lookup(kind, namespace, ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise MissingReference(f"{kind} {namespace}/{ref['name']} not found")
        env.update({source.get("prefix", "") + k: v for k, v in data.items()})
    for var in container.get("env", []):
        source = var.get("valueFrom")
        if source is None:
            env[var["name"]] = expand(var.get("value", ""), env)
            continue
        if "fieldRef" in source:
            value: str | None = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            ref = {"containerName": container["name"], **source["resourceFieldRef"]}
            value = resource_value(pod, ref, allocatable)
        elif "configMapKeyRef" in source:
            value = _key_value(source["configMapKeyRef"], "configmaps", namespace, lookup)
        else:
            value = _key_value(source["secretKeyRef"], "secrets", namespace, lookup)
        if value is not None:
            env[var["name"]] = value
    return env


def object_data(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """A ConfigMap's or Secret's data as bytes (Secret data and binaryData are base64 on the wire)."""
    encoded = obj.get("binaryData", {}) if obj["kind"] == "ConfigMap" else obj.get("data", {})
    data = {k: base64.b64decode(v) for k, v in encoded.items()}
    if obj["kind"] == "ConfigMap":
        data.update({k: v.encode() for k, v in obj.get("data", {}).items()})
    return data
