"""The training workload the trainer benchmarks share: model, data, process group, hand-written loop.

Only torch (and trainjob's sampler) at import time: the benchmarks that measure memory start
each framework in fresh processes, and each process imports only what its framework needs.
"""

from __future__ import annotations

import argparse
import os
import socket
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from trainjob.distributed import import_dynamo_before_the_group, seed_everything
from trainjob.sampling import ShardedSampler

BATCH = 64
WORLD = 2
LEARNING_RATE = 0.01
MOMENTUM = 0.9


def parse_loop_arguments(description: str, *, epochs: str, rounds: str) -> argparse.Namespace:
    """The command line of a benchmark that compares training loops: epochs, steps and rounds."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4, help=epochs)
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--rounds", type=int, default=3, help=rounds)
    return parser.parse_args()


def make_model() -> nn.Module:
    """An MLP big enough that a step is mostly compute and all-reduce (about 1.3 M parameters)."""
    return nn.Sequential(
        nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )


def make_optimizer(parameters: object) -> torch.optim.Optimizer:
    """SGD with momentum, the same in every loop."""
    return torch.optim.SGD(parameters, lr=LEARNING_RATE, momentum=MOMENTUM)  # type: ignore[arg-type]


def make_data(steps: int) -> TensorDataset:
    """Synthetic classification data: `steps` batches per rank and epoch."""
    generator = torch.Generator().manual_seed(0)
    size = steps * BATCH * WORLD
    return TensorDataset(
        torch.randn(size, 256, generator=generator), torch.randint(0, 10, (size,), generator=generator)
    )


def free_port() -> int:
    """A free TCP port on loopback for the group's rendezvous."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def join_group(rank: int, port: int) -> None:
    """Set the worker environment contract for `rank` and join the Gloo group, one thread per rank."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "WORLD_SIZE": str(WORLD),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "OMP_NUM_THREADS": "1",
        }
    )
    torch.set_num_threads(1)
    import_dynamo_before_the_group()
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)


def hand_written_epochs(rank: int, data: TensorDataset, epochs: int) -> list[float]:
    """The loop a user would write by hand: DDP, a sharded sampler, SGD; per-epoch seconds per step."""
    seed_everything(0)
    model = DistributedDataParallel(make_model())
    optimizer = make_optimizer(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    sampler = ShardedSampler(len(data), rank, WORLD, shuffle=True, seed=0, pad=True)
    loader = DataLoader(data, batch_size=BATCH, sampler=sampler)
    times = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        model.train()
        started = time.perf_counter()
        for inputs, targets in loader:
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - started) / len(loader))
    return times


def trainer_epochs(data: TensorDataset, epochs: int) -> list[float]:
    """The same training through trainjob's Trainer with its default callbacks; seconds per step."""
    from benchmarks.timing import EpochTimer  # the Trainer's imports only where it runs
    from trainjob import Trainer, TrainerConfig

    seed_everything(0)
    timer = EpochTimer()
    trainer = Trainer(
        make_model(),
        make_optimizer,
        data,
        loss_fn=nn.CrossEntropyLoss(),
        config=TrainerConfig(max_epochs=epochs, batch_size=BATCH),
        callbacks=[timer],
    )
    trainer.fit()
    return timer.times
