"""A tutorial-style DDP script, as in the PyTorch docs: no trainjob import, launched by torchrun.

Two lines differ from the tutorial, both marked: they keep PyTorch 2.15's Gloo teardown from
aborting a finished worker at exit (pytorch/pytorch#190489, docs/reliability.md). Without them
this script alone, under torchrun with no trainjob involved, aborted in 5 of 30 runs on 2 CPUs.
"""

import os

import torch
import torch._dynamo  # not in the tutorial: imported after the group exists (by DDP), it keeps the group
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(rank)
    model = DistributedDataParallel(nn.Linear(10, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(20):
        inputs, targets = torch.randn(16, 10), torch.randn(16, 1)
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"rank {rank}/{world} (local {os.environ['LOCAL_RANK']}) done, loss {loss.item():.4f}", flush=True)
    del model  # not in the tutorial: a DDP wrapper still alive keeps the group too
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
