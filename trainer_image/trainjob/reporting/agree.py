"""Agreeing on a yes/no across the ranks of a torch.distributed group, without importing torch."""

from __future__ import annotations

import sys


def any_rank(flag: bool) -> bool:
    """True when `flag` is True on any rank: one all-reduce when a process group is up, else `flag`.

    A collective: with a process group initialised, every rank must call it at the same point.
    torch is not imported here: a script that never imported `torch.distributed` has no group.
    """
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return flag
    if distributed.get_world_size() == 1:
        return flag
    import torch

    device = torch.device("cpu")
    if distributed.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    distributed.all_reduce(value, op=distributed.ReduceOp.MAX)
    return bool(value.item())
