"""Trainer overhead: the trainjob Trainer against a hand-written DDP loop, 2 Gloo processes, one run.

Both loops train the same MLP on the same synthetic data with the same sampler and batch
size, inside the same process group. Runs alternate (loop, trainer, loop, trainer, ...) so
drift on the machine hits both alike. The figure is the ratio of median epoch times per step
(trainer / hand-written), printed last. Target: at most 1.02.

    python -m benchmarks.trainer_overhead [--epochs 4] [--steps 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.timing import EpochTimer
from trainjob import Trainer, TrainerConfig, seed_everything
from trainjob.contract import WorkerEnvironment
from trainjob.sampling import ShardedSampler

BATCH = 64
WORLD = 2


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )


def make_data(steps: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    size = steps * BATCH * WORLD
    return TensorDataset(
        torch.randn(size, 256, generator=generator), torch.randint(0, 10, (size,), generator=generator)
    )


def hand_written_epochs(rank: int, data: TensorDataset, epochs: int) -> list[float]:
    """The loop a user would write by hand: DDP, a sharded sampler, SGD; per-epoch seconds per step."""
    seed_everything(0)
    model = DistributedDataParallel(make_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
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
    """The same training through trainjob's Trainer with its default callbacks."""
    seed_everything(0)
    timer = EpochTimer()
    trainer = Trainer(
        make_model(),
        lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        data,
        loss_fn=nn.CrossEntropyLoss(),
        config=TrainerConfig(max_epochs=epochs, batch_size=BATCH),
        callbacks=[timer],
    )
    trainer.fit()
    return timer.times


def worker(rank: int, port: int, args: argparse.Namespace, out: str) -> None:
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
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    assert WorkerEnvironment.from_environ().world_size == WORLD
    data = make_data(args.steps)
    hand_written_epochs(rank, data, 1)  # warm-up
    results: dict[str, list[float]] = {"hand_written": [], "trainer": []}
    for _ in range(args.rounds):
        results["hand_written"] += hand_written_epochs(rank, data, args.epochs)
        results["trainer"] += trainer_epochs(data, args.epochs)
    if rank == 0:
        Path(out).write_text(json.dumps(results))
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per round and loop")
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two loops")
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "results.json")
        mp.spawn(worker, args=(port, args, out), nprocs=WORLD, join=True)
        results = json.loads(Path(out).read_text())
    hand = statistics.median(results["hand_written"])
    ours = statistics.median(results["trainer"])
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {WORLD} Gloo processes, batch {BATCH}")
    print(
        f"hand-written DDP loop: median {hand * 1000:.3f} ms/step over {len(results['hand_written'])} epochs"
    )
    print(f"trainjob Trainer:      median {ours * 1000:.3f} ms/step over {len(results['trainer'])} epochs")
    print(f"ratio trainer/hand-written: {ours / hand:.4f}")


if __name__ == "__main__":
    main()
