"""Schemas of the core/v1 types a TrainJob embeds.

The small ones are written here with this project's descriptions and bounds; the large ones
(affinity, volume sources, env sources, security contexts) come from the apiserver's own OpenAPI
(`coretypes`). No part of a TrainJob keeps unknown fields, so its depth is bounded.
"""

from __future__ import annotations

from trainjob_api.coretypes import QUANTITY_PATTERN, core_type, quantity
from trainjob_api.openapi import Schema, array, boolean, integer, map_of, obj, string

DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: The longest argument or environment value: Linux refuses a single one over 128 KiB
#: (MAX_ARG_STRLEN) when it starts the worker, and a character takes up to 4 bytes.
MAX_ARGUMENT = 32 * 1024
#: What the patterns mean, for error messages.
PATTERN_DESCRIPTIONS = {
    QUANTITY_PATTERN: "a resource quantity such as 2, 500m or 16Gi",
    DNS_LABEL_PATTERN: "a DNS label: lowercase letters, digits and '-', at most 63",
}


def resource_requirements(description: str) -> Schema:
    """core/v1 ResourceRequirements."""
    return obj(
        description,
        {
            "limits": map_of(
                "The most of each resource a worker may use, e.g. `cpu: 4`, `memory: 16Gi`, "
                "`nvidia.com/gpu: 8`.",
                quantity("A resource quantity."),
            ),
            "requests": map_of(
                "The resources the scheduler reserves for each worker; defaults to the limits.",
                quantity("A resource quantity."),
            ),
            "claims": array(
                "Dynamic resource claims (from `podTemplate`-level resourceClaims) the worker uses.",
                obj(
                    "A reference to a resource claim.",
                    {
                        "name": string("The name of the pod's resource claim."),
                        "request": string("The request within the claim, if only one is used."),
                    },
                    required=["name"],
                ),
                list_type="map",
                map_keys=["name"],
            ),
        },
    )


def env_var(description: str) -> Schema:
    """core/v1 EnvVar."""
    return obj(
        description,
        {
            "name": string("The variable's name.", min_length=1, max_length=256),
            "value": string(
                "The variable's value; `$(OTHER)` expands earlier variables, as in any pod.",
                max_length=MAX_ARGUMENT,
            ),
            "valueFrom": core_type(
                "EnvVarSource",
                "Where the value comes from instead: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                "or `secretKeyRef` (core/v1 EnvVarSource).",
            ),
        },
        required=["name"],
    )


def toleration(description: str) -> Schema:
    """core/v1 Toleration."""
    return obj(
        description,
        {
            "key": string(
                "The taint key the toleration applies to; empty with `Exists` matches every taint."
            ),
            "operator": string("How the key relates to the value.", enum=["Exists", "Equal"]),
            "value": string("The taint value the toleration matches (with `Equal`)."),
            "effect": string(
                "The taint effect to match; empty matches all.",
                enum=["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ),
            "tolerationSeconds": integer("How long a `NoExecute` taint is tolerated before eviction."),
        },
    )


def volume(description: str) -> Schema:
    """core/v1 Volume, with the name bounded as the volumeMounts rule needs."""
    name = string(
        "The volume's name, referenced by `volumeMounts`.", pattern=DNS_LABEL_PATTERN, max_length=63
    )
    return core_type("Volume", description, {"name": name})


def volume_mount(description: str) -> Schema:
    """core/v1 VolumeMount."""
    return obj(
        description,
        {
            "name": string("The name of a volume in `podTemplate.volumes`.", max_length=63),
            "mountPath": string("Where the volume appears in the worker container.", min_length=1),
            "readOnly": boolean("Mount the volume read-only."),
            "subPath": string("A path within the volume to mount instead of its root."),
            "subPathExpr": string("Like subPath, with `$(VAR)` references to the container's environment."),
            "mountPropagation": string(
                "How mounts propagate between host and container.",
                enum=["None", "HostToContainer", "Bidirectional"],
            ),
            "recursiveReadOnly": string(
                "Whether a read-only mount is read-only recursively.",
                enum=["Disabled", "IfPossible", "Enabled"],
            ),
        },
        required=["name", "mountPath"],
    )


def local_object_reference(description: str) -> Schema:
    """core/v1 LocalObjectReference (for image pull secrets)."""
    return obj(description, {"name": string("The referenced object's name.")}, required=["name"])


#: The largest user or group ID Kubernetes accepts.
MAX_ID = 2**31 - 1


def _identity_fields() -> dict[str, Schema]:
    """The user and group fields that pod and container security contexts share, bounded as the API is."""
    return {
        "runAsUser": integer("The UID the processes run as.", minimum=0, maximum=MAX_ID),
        "runAsGroup": integer("The GID the processes run as.", minimum=0, maximum=MAX_ID),
    }


def pod_security_context(description: str) -> Schema:
    """core/v1 PodSecurityContext."""
    return core_type(
        "PodSecurityContext",
        description,
        {
            **_identity_fields(),
            "fsGroup": integer("The group that owns mounted volumes.", minimum=0, maximum=MAX_ID),
        },
    )


def security_context(description: str) -> Schema:
    """core/v1 SecurityContext (of a container)."""
    return core_type("SecurityContext", description, _identity_fields())


def affinity(description: str) -> Schema:
    """core/v1 Affinity."""
    return core_type("Affinity", description)
