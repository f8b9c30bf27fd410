"""The environment contract between whoever starts a worker and the trainer inside it.

The operator (in pods), the local runner (as processes) and torchrun all hand a worker the
same variables; the trainer reads nothing else. The variables are the constants below; README.md
("A TrainJob") and docs/trainer.md show them in use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MASTER_ADDR = "MASTER_ADDR"
MASTER_PORT = "MASTER_PORT"
WORLD_SIZE = "WORLD_SIZE"
RANK = "RANK"
LOCAL_RANK = "LOCAL_RANK"
LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE"
NODE_RANK = "NODE_RANK"
NNODES = "NNODES"
NPROC_PER_NODE = "NPROC_PER_NODE"
PET_NNODES = "PET_NNODES"
PET_NPROC_PER_NODE = "PET_NPROC_PER_NODE"
PET_NODE_RANK = "PET_NODE_RANK"
PET_MASTER_ADDR = "PET_MASTER_ADDR"
PET_MASTER_PORT = "PET_MASTER_PORT"
TRAINJOB_NAME = "TRAINJOB_NAME"
TRAINJOB_NAMESPACE = "TRAINJOB_NAMESPACE"
TRAINJOB_UID = "TRAINJOB_UID"
TRAINJOB_BACKEND = "TRAINJOB_BACKEND"
TRAINJOB_CONFIG = "TRAINJOB_CONFIG"
TRAINJOB_STATUS_FILE = "TRAINJOB_STATUS_FILE"
#: In a pod: the container's termination message file, where rank 0 leaves its final status.
TRAINJOB_TERMINATION_MESSAGE = "TRAINJOB_TERMINATION_MESSAGE"

DEFAULT_MASTER_PORT = 29500

#: Variables that carry a node's rank; in a pod they come from the Indexed Job completion index.
NODE_RANK_VARIABLES = (NODE_RANK, PET_NODE_RANK)

#: Every variable the contract owns. A TrainJob's `spec.env` may not set any of them.
RESERVED_VARIABLES = (
    MASTER_ADDR,
    MASTER_PORT,
    WORLD_SIZE,
    RANK,
    LOCAL_RANK,
    LOCAL_WORLD_SIZE,
    NODE_RANK,
    NNODES,
    NPROC_PER_NODE,
    PET_NNODES,
    PET_NPROC_PER_NODE,
    PET_NODE_RANK,
    PET_MASTER_ADDR,
    PET_MASTER_PORT,
    TRAINJOB_NAME,
    TRAINJOB_NAMESPACE,
    TRAINJOB_UID,
    TRAINJOB_BACKEND,
    TRAINJOB_CONFIG,
    TRAINJOB_STATUS_FILE,
    TRAINJOB_TERMINATION_MESSAGE,
)

#: torchrun reads every `PET_<OPTION>` variable as its `--option` (`PET_RDZV_ENDPOINT`,
#: `PET_STANDALONE`, `PET_MAX_RESTARTS`, ...), so any of them could re-route the rendezvous: the
#: whole prefix is reserved. Pass torchrun options as arguments instead.
RESERVED_PREFIX = "PET_"


def is_reserved(name: str) -> bool:
    """Whether a variable belongs to the contract, so that a TrainJob's `spec.env` may not set it."""
    return name in RESERVED_VARIABLES or name.startswith(RESERVED_PREFIX)


#: Variables every worker process gets unless the TrainJob's `spec.env` sets them: output reaches
#: the log at once, and a worker that crashes (segfault, abort) prints every thread's Python
#: stack there.
WORKER_ENV_DEFAULTS = {"PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}

#: The parts of a TrainJob spec that configure the trainer inside the worker.
TRAINER_CONFIG_FIELDS = ("maxEpochs", "earlyStopping", "checkpoint")


@dataclass(frozen=True)
class JobIdentity:
    """Which TrainJob a worker belongs to."""

    name: str
    namespace: str = "default"
    uid: str = ""


def node_environment(
    job: JobIdentity,
    spec: Mapping[str, Any],
    master_addr: str,
    master_port: int = DEFAULT_MASTER_PORT,
) -> dict[str, str]:
    """The variables every node (pod) of a job shares; the node rank is added per node.

    `spec` is a TrainJob spec with its defaults applied. When a node runs one process,
    `RANK` equals the node rank and the launcher adds it with `NODE_RANK`.
    """
    nnodes = int(spec.get("numNodes", 1))
    nproc = int(spec.get("numProcPerNode", 1))
    config = {key: spec[key] for key in TRAINER_CONFIG_FIELDS if spec.get(key) is not None}
    return {
        MASTER_ADDR: master_addr,
        MASTER_PORT: str(master_port),
        PET_MASTER_ADDR: master_addr,
        PET_MASTER_PORT: str(master_port),
        WORLD_SIZE: str(nnodes * nproc),
        NNODES: str(nnodes),
        PET_NNODES: str(nnodes),
        NPROC_PER_NODE: str(nproc),
        PET_NPROC_PER_NODE: str(nproc),
        LOCAL_WORLD_SIZE: str(nproc),
        TRAINJOB_NAME: job.name,
        TRAINJOB_NAMESPACE: job.namespace,
        TRAINJOB_UID: job.uid,
        TRAINJOB_BACKEND: str(spec.get("backend", "auto")),
        TRAINJOB_CONFIG: json.dumps(config, sort_keys=True, separators=(",", ":")),
    }


def process_environment(node_rank: int, local_rank: int, nproc_per_node: int) -> dict[str, str]:
    """The per-process variables a node launcher adds for one of its processes."""
    return {
        NODE_RANK: str(node_rank),
        PET_NODE_RANK: str(node_rank),
        RANK: str(node_rank * nproc_per_node + local_rank),
        LOCAL_RANK: str(local_rank),
    }


#: Programs that start one process per local rank by themselves, reading the `PET_*` variables.
SELF_LAUNCHING_PROGRAMS = ("torchrun",)

#: The node launcher that starts `numProcPerNode` processes when the user's command does not.
NODE_LAUNCHER = ("python", "-m", "trainjob.launch", "--")


def worker_command(spec: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The container `command` and `args` for a worker node of this (defaulted) spec.

    With more than one process per node and a command that is not a launcher itself
    (torchrun), the command runs under trainjob's node launcher, which starts one process
    per local rank with `RANK` and `LOCAL_RANK` set.
    """
    command = list(spec.get("command") or [])
    args = list(spec.get("args") or [])
    if (
        int(spec.get("numProcPerNode", 1)) > 1
        and command
        and os.path.basename(command[0]) not in (SELF_LAUNCHING_PROGRAMS)
    ):
        return [*NODE_LAUNCHER, *command], args
    return command, args


@dataclass(frozen=True)
class WorkerEnvironment:
    """The contract as one worker process sees it."""

    rank: int
    local_rank: int
    world_size: int
    node_rank: int
    nnodes: int
    nproc_per_node: int
    master_addr: str
    master_port: int
    backend: str
    job: JobIdentity | None
    config: dict[str, Any]

    @property
    def distributed(self) -> bool:
        """Whether this process is one of several that train together."""
        return self.world_size > 1

    @property
    def is_chief(self) -> bool:
        """Whether this process is rank 0, the one that reports and checkpoints."""
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> WorkerEnvironment:
        """Read the contract from the process environment (or the given mapping).

        Works under the operator, the local runner, torchrun, and as one plain process.
        """
        env = os.environ if environ is None else environ
        world_size = _int(env, WORLD_SIZE, 1)
        nproc = _int(env, NPROC_PER_NODE, _int(env, LOCAL_WORLD_SIZE, 1))
        node_rank = _int(env, NODE_RANK, _int(env, PET_NODE_RANK, _int(env, "GROUP_RANK", 0)))
        if world_size > 1 and RANK not in env:
            if nproc != 1:
                raise ContractError(
                    f"{RANK} is not set but {NPROC_PER_NODE}={nproc}: start the workers with a "
                    "per-process launcher (torchrun, or `trainjob launch -- COMMAND`)"
                )
            rank = node_rank
        else:
            rank = _int(env, RANK, 0)
        if not 0 <= rank < world_size:
            raise ContractError(f"{RANK}={rank} is outside 0..{world_size - 1} ({WORLD_SIZE}={world_size})")
        name = env.get(TRAINJOB_NAME)
        job = (
            JobIdentity(name, env.get(TRAINJOB_NAMESPACE, "default"), env.get(TRAINJOB_UID, ""))
            if name
            else None
        )
        try:
            config = json.loads(env.get(TRAINJOB_CONFIG) or "{}")
        except json.JSONDecodeError as error:
            raise ContractError(f"{TRAINJOB_CONFIG} is not valid JSON: {error}") from error
        return cls(
            rank=rank,
            local_rank=_int(env, LOCAL_RANK, 0),
            world_size=world_size,
            node_rank=node_rank,
            nnodes=_int(env, NNODES, _int(env, PET_NNODES, max(1, world_size // max(nproc, 1)))),
            nproc_per_node=nproc,
            master_addr=env.get(MASTER_ADDR, env.get(PET_MASTER_ADDR, "127.0.0.1")),
            master_port=_int(env, MASTER_PORT, _int(env, PET_MASTER_PORT, DEFAULT_MASTER_PORT)),
            backend=env.get(TRAINJOB_BACKEND, "auto"),
            job=job,
            config=config,
        )


class ContractError(RuntimeError):
    """The environment a worker was started with breaks the contract."""


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ContractError(f"{key}={raw!r} is not an integer") from error
