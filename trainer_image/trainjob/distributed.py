"""Process-group setup from the environment contract, and the few collectives the loop needs."""

from __future__ import annotations

import datetime
import importlib
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from trainjob_api.contract import WorkerEnvironment


class RendezvousError(RuntimeError):
    """The master could not be reached in time."""


def resolve_backend(requested: str, cuda_available: bool) -> str:
    """The process-group backend: `auto` means NCCL on GPUs and Gloo on CPU."""
    if requested == "auto":
        return "nccl" if cuda_available else "gloo"
    if requested == "nccl" and not cuda_available:
        raise RuntimeError(
            "backend 'nccl' was requested but this worker sees no CUDA device; use 'gloo' or 'auto'"
        )
    if requested not in ("nccl", "gloo"):
        raise RuntimeError(f"unknown backend {requested!r}; expected auto, nccl or gloo")
    return requested


def import_dynamo_before_the_group() -> None:
    """Import `torch._dynamo` now, before a process group exists (call it before creating one).

    DDP imports torch._dynamo; imported once a group exists, it keeps a reference to that group,
    which then outlives `destroy_process_group` and dies with the interpreter, where Gloo's
    teardown can abort a finished worker (docs/reliability.md). Imported first, it holds none.
    """
    importlib.import_module("torch._dynamo")


def wait_for_master(addr: str, port: int, timeout_s: float, poll_s: float = 0.2) -> None:
    """Block until `addr:port` resolves and accepts TCP connections, or raise `RendezvousError`.

    Workers start in any order and the master's DNS name appears only once its pod exists,
    so a worker waits here instead of crashing on the first failed lookup.
    """
    deadline = time.monotonic() + timeout_s
    last_error: OSError | None = None
    while True:
        try:
            with socket.create_connection((addr, port), timeout=min(poll_s * 5, 2.0)):
                return
        except OSError as error:
            last_error = error
        if time.monotonic() >= deadline:
            raise RendezvousError(
                f"the master {addr}:{port} was not reachable within {timeout_s:.0f}s "
                f"(last error: {last_error}); check that worker 0 is running and MASTER_ADDR/MASTER_PORT"
            )
        time.sleep(poll_s)


@dataclass
class DistributedContext:
    """The process group this worker trains in (or a single process), and its device."""

    env: WorkerEnvironment
    backend: str
    device: torch.device
    owns_group: bool

    @property
    def world_size(self) -> int:
        """Number of processes training together."""
        return self.env.world_size

    @property
    def rank(self) -> int:
        """This process's global rank."""
        return self.env.rank

    @classmethod
    def setup(
        cls, env: WorkerEnvironment, rendezvous_timeout_s: float, collective_timeout_s: float
    ) -> DistributedContext:
        """Join (or create) the process group the environment describes and pick the device."""
        backend = resolve_backend(env.backend, torch.cuda.is_available())
        device = torch.device("cuda", env.local_rank) if backend == "nccl" else torch.device("cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not env.distributed or dist.is_initialized():
            return cls(env, backend, device, owns_group=False)
        import_dynamo_before_the_group()
        if env.rank != 0:
            wait_for_master(env.master_addr, env.master_port, rendezvous_timeout_s)
        store = dist.TCPStore(
            env.master_addr,
            env.master_port,
            env.world_size,
            is_master=env.rank == 0,
            timeout=datetime.timedelta(seconds=rendezvous_timeout_s),
            wait_for_workers=True,
        )
        dist.init_process_group(
            backend,
            store=store,
            rank=env.rank,
            world_size=env.world_size,
            timeout=datetime.timedelta(seconds=collective_timeout_s),
            device_id=device if device.type == "cuda" else None,
        )
        return cls(env, backend, device, owns_group=True)

    def teardown(self) -> None:
        """Leave the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()

    @property
    def active(self) -> bool:
        """Whether collectives go to other processes."""
        return self.world_size > 1 and dist.is_initialized()

    def all_reduce_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum of `values` over all ranks (float64, one collective)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def all_reduce_max(self, values: Sequence[int]) -> list[int]:
        """Element-wise maximum of `values` over all ranks (one collective)."""
        if not self.active:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.int64, device=self._collective_device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return [int(v) for v in tensor.tolist()]

    def all_gather_object(self, obj: object) -> list[object]:
        """Every rank's `obj`, in rank order."""
        if not self.active:
            return [obj]
        gathered: list[object] = [None] * self.world_size
        dist.all_gather_object(gathered, obj)
        return gathered

    def broadcast_object(self, obj: object, source: int = 0) -> object:
        """`obj` as rank `source` has it, on every rank."""
        if not self.active:
            return obj
        holder = [obj]
        dist.broadcast_object_list(holder, src=source)
        return holder[0]

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.active:
            dist.barrier()

    @property
    def _collective_device(self) -> torch.device:
        return self.device if self.backend == "nccl" else torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is reproducible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, object]:
    """This process's random number generator states, for a checkpoint."""
    state: dict[str, object] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, object]) -> None:
    """Restore states captured by `capture_rng_state`."""
    random.setstate(state["python"])  # type: ignore[arg-type]
    np.random.set_state(state["numpy"])  # type: ignore[arg-type]
    torch.set_rng_state(state["torch"])  # type: ignore[arg-type]
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])  # type: ignore[arg-type]
