"""The environment contract as the worker container's `env`.

Every variable of `contract.node_environment` is a literal, and so is the termination message
file where rank 0 leaves its final status (`trainjob_api.final_status`); the node rank (and, with one process
per pod, the global rank) comes from the pod's completion index through the downward API, since
all pods of an Indexed Job share one template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainjob_api.contract import (
    LOCAL_RANK,
    NODE_RANK_VARIABLES,
    RANK,
    TRAINJOB_TERMINATION_MESSAGE,
    WORKER_ENV_DEFAULTS,
    node_environment,
)
from trainjob_api.enums import Backend
from trainjob_api.final_status import TERMINATION_MESSAGE_PATH
from trainjob_api.names import COMPLETION_INDEX, master_address
from trainjob_operator.builders.meta import Body, identity

GPU_RESOURCE = "nvidia.com/gpu"


def resolve_backend(spec: Mapping[str, Any]) -> str:
    """The backend the workers use: `auto` is nccl when the pods ask for NVIDIA GPUs, else gloo."""
    backend = spec.get("backend", Backend.AUTO)
    if backend != Backend.AUTO:
        return str(backend)
    resources = spec.get("resourcesPerNode") or {}
    gpus = [(resources.get(kind) or {}).get(GPU_RESOURCE) for kind in ("limits", "requests")]
    return Backend.NCCL.value if any(str(count or 0) != "0" for count in gpus) else Backend.GLOO.value


def _from_completion_index(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}},
    }


def worker_env(trainjob: Body) -> list[dict[str, Any]]:
    """The worker container's `env`: defaults the user did not set, the contract, then the user's variables.

    The user's variables come last, so that they may refer to the contract's.
    """
    spec = trainjob["spec"]
    user = [dict(variable) for variable in spec.get("env", ())]
    named = {variable["name"] for variable in user}
    job = identity(trainjob)
    resolved = {**spec, "backend": resolve_backend(spec)}
    contract = node_environment(job, resolved, master_address(job.name, job.namespace), spec["masterPort"])
    contract[TRAINJOB_TERMINATION_MESSAGE] = TERMINATION_MESSAGE_PATH
    defaults = {name: value for name, value in WORKER_ENV_DEFAULTS.items() if name not in named}
    literals = {**defaults, **contract}
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in literals.items()]
    single_process = spec["numProcPerNode"] == 1
    ranks = [*NODE_RANK_VARIABLES, *([RANK] if single_process else [])]
    env += [_from_completion_index(name) for name in ranks]
    if single_process:
        env.append({"name": LOCAL_RANK, "value": "0"})
    return env + user
