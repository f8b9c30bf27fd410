"""The worker pod template: the user's command and podTemplate, the contract, secure defaults.

Nothing of the user's podTemplate is dropped. Labels and annotations are added to the operator's
own; the other fields are used as given. With `podGroupPolicy`, the pods also name their PodGroup
(see `podgroup`).

Security: the pods meet the Pod Security Standard "restricted" by default (run as non-root,
seccomp RuntimeDefault, no privilege escalation, every capability dropped). The user's security
contexts are merged over these defaults, key by key, and what the user sets explicitly wins
(`runAsNonRoot: false`, `privileged: true`, `capabilities.add: [IPC_LOCK]` for RDMA, ...): the
namespace's Pod Security level, enforced by the apiserver's admission when the Job controller
creates the pods, decides whether that is allowed, and a refusal fails the TrainJob with reason
PodSecurityViolation (see `planner`). The one thing that cannot be lost by accident is
`capabilities.drop: [ALL]`: the user's drop list is added to it, never put in its place, so
capabilities are granted only by naming them in `capabilities.add`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainjob_api.contract import worker_command
from trainjob_api.final_status import TERMINATION_MESSAGE_PATH
from trainjob_api.names import LABEL_ATTEMPT, WORKER_CONTAINER, service_name
from trainjob_operator.builders.environment import worker_env
from trainjob_operator.builders.meta import Body, selector_labels
from trainjob_operator.builders.podgroup import pod_group_link
from trainjob_operator.builders.rbac import worker_service_account
from trainjob_operator.builders.service import RENDEZVOUS_PORT_NAME

#: The Pod Security Standard "restricted" profile, at pod level.
POD_SECURITY_DEFAULTS: Mapping[str, Any] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: The Pod Security Standard "restricted" profile, at container level.
CONTAINER_SECURITY_DEFAULTS: Mapping[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
#: podTemplate fields that go into the pod spec unchanged.
PASSED_THROUGH = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "volumes",
    "priorityClassName",
    "terminationGracePeriodSeconds",
    "imagePullSecrets",
)


def merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`defaults` with `overrides` laid over it: objects merge key by key, anything else is replaced."""
    merged = dict(defaults)
    for key, value in overrides.items():
        below = merged.get(key)
        merged[key] = (
            merge(below, value) if isinstance(below, Mapping) and isinstance(value, Mapping) else value
        )
    return merged


def container_security_context(user: Mapping[str, Any]) -> dict[str, Any]:
    """The worker container's security context; a privileged container may escalate (the API requires it).

    Every capability stays dropped whatever the user's `capabilities.drop` says.
    """
    defaults = dict(CONTAINER_SECURITY_DEFAULTS)
    if user.get("privileged"):
        defaults.pop("allowPrivilegeEscalation")
    context = merge(defaults, user)
    dropped = [*CONTAINER_SECURITY_DEFAULTS["capabilities"]["drop"], *context["capabilities"].get("drop", ())]
    context["capabilities"] = {**context["capabilities"], "drop": list(dict.fromkeys(dropped))}
    return context


def worker_container(trainjob: Body) -> dict[str, Any]:
    """The container that runs the user's command."""
    spec = trainjob["spec"]
    template = spec.get("podTemplate", {})
    command, args = worker_command(spec)
    optional = {
        "imagePullPolicy": spec.get("imagePullPolicy"),
        "args": args or None,
        "workingDir": spec.get("workingDir"),
        "resources": spec.get("resourcesPerNode"),
        "volumeMounts": template.get("volumeMounts"),
    }
    return {
        "name": WORKER_CONTAINER,
        "image": spec["image"],
        "command": command,
        "env": worker_env(trainjob),
        "ports": [{"name": RENDEZVOUS_PORT_NAME, "containerPort": spec["masterPort"], "protocol": "TCP"}],
        "securityContext": container_security_context(template.get("containerSecurityContext", {})),
        "terminationMessagePath": TERMINATION_MESSAGE_PATH,
        **{key: value for key, value in optional.items() if value is not None},
    }


def pod_template(trainjob: Body, attempt: int) -> dict[str, Any]:
    """The pod template of every worker of attempt `attempt` (0, then one more per group restart)."""
    template = trainjob["spec"].get("podTemplate", {})
    gang = pod_group_link(trainjob)
    labels = {**template.get("labels", {}), **gang.get("labels", {})}
    metadata: dict[str, Any] = {
        "labels": {**labels, **selector_labels(trainjob), LABEL_ATTEMPT: str(attempt)}
    }
    annotations = {**template.get("annotations", {}), **gang.get("annotations", {})}
    if annotations:
        metadata["annotations"] = annotations
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "subdomain": service_name(trainjob["metadata"]["name"]),
        "serviceAccountName": worker_service_account(trainjob),
        "automountServiceAccountToken": True,
        "securityContext": merge(POD_SECURITY_DEFAULTS, template.get("securityContext", {})),
        "containers": [worker_container(trainjob)],
        **{key: template[key] for key in PASSED_THROUGH if key in template},
        **gang.get("spec", {}),
    }
    return {"metadata": metadata, "spec": spec}
