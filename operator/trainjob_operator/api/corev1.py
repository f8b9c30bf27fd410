"""Schemas of the core/v1 types a TrainJob embeds, as much of them as is worth validating.

Types that are large and validated again by the apiserver when the operator creates the Job
(affinity, volume sources, the rarer security fields) keep unknown fields instead of spelling
out every one of them.
"""

from __future__ import annotations

from trainjob_operator.api.openapi import (
    Schema,
    array,
    boolean,
    free_form,
    int_or_string,
    integer,
    map_of,
    obj,
    string,
)

#: A Kubernetes resource quantity (`2`, `500m`, `16Gi`, `1e3`), as the apiserver parses it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
DNS_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: What the patterns mean, for error messages.
PATTERN_DESCRIPTIONS = {
    QUANTITY_PATTERN: "a resource quantity such as 2, 500m or 16Gi",
    DNS_LABEL_PATTERN: "a DNS label: lowercase letters, digits and '-', at most 63",
}


def quantity(description: str) -> Schema:
    """A resource quantity: an integer or a string such as `500m` or `16Gi`."""
    return int_or_string(description, pattern=QUANTITY_PATTERN)


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
            "value": string("The variable's value; `$(OTHER)` expands earlier variables, as in any pod."),
            "valueFrom": free_form(
                "Where the value comes from instead: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` "
                "or `secretKeyRef` (core/v1 EnvVarSource)."
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
    """core/v1 Volume: the name is checked, the source is passed on as given."""
    return obj(
        description,
        {
            "name": string(
                "The volume's name, referenced by `volumeMounts`.", pattern=DNS_LABEL_PATTERN, max_length=63
            )
        },
        required=["name"],
        preserve_unknown=True,
    )


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


def seccomp_profile(description: str) -> Schema:
    """core/v1 SeccompProfile."""
    return obj(
        description,
        {
            "type": string("The kind of profile.", enum=["RuntimeDefault", "Unconfined", "Localhost"]),
            "localhostProfile": string("The profile file on the node, for `Localhost`."),
        },
        required=["type"],
    )


def _identity_fields() -> dict[str, Schema]:
    """The user, group and seccomp fields that pod and container security contexts share."""
    return {
        "runAsUser": integer("The UID the processes run as.", minimum=0),
        "runAsGroup": integer("The GID the processes run as.", minimum=0),
        "runAsNonRoot": boolean("Refuse to start a container whose user is root."),
        "seccompProfile": seccomp_profile("The seccomp profile; trainjob's default is RuntimeDefault."),
    }


def pod_security_context(description: str) -> Schema:
    """core/v1 PodSecurityContext; the rarer fields are passed on as given."""
    return obj(
        description,
        {
            **_identity_fields(),
            "fsGroup": integer("The group that owns mounted volumes.", minimum=0),
            "fsGroupChangePolicy": string(
                "When to change volume ownership.", enum=["OnRootMismatch", "Always"]
            ),
            "supplementalGroups": array("Extra groups of the processes.", integer("A GID.", minimum=0)),
        },
        preserve_unknown=True,
    )


def security_context(description: str) -> Schema:
    """core/v1 SecurityContext (of a container); the rarer fields are passed on as given."""
    return obj(
        description,
        {
            **_identity_fields(),
            "allowPrivilegeEscalation": boolean(
                "Whether a process may gain more privileges than its parent."
            ),
            "privileged": boolean("Run the container privileged."),
            "readOnlyRootFilesystem": boolean("Mount the container's root filesystem read-only."),
            "capabilities": obj(
                "Linux capabilities to add to or drop from the default set.",
                {
                    "add": array("Capabilities to add.", string("A capability, e.g. `IPC_LOCK`.")),
                    "drop": array("Capabilities to drop; `ALL` drops every one.", string("A capability.")),
                },
            ),
        },
        preserve_unknown=True,
    )


def affinity(description: str) -> Schema:
    """core/v1 Affinity, passed on as given (the apiserver validates it with the Job)."""
    return free_form(description)
