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
import statistics
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from benchmarks.workload import (
    BATCH,
    WORLD,
    free_port,
    hand_written_epochs,
    join_group,
    make_data,
    parse_loop_arguments,
    trainer_epochs,
)
from trainjob_api.contract import WorkerEnvironment


def worker(rank: int, port: int, args: argparse.Namespace, out: str) -> None:
    join_group(rank, port)
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
    args = parse_loop_arguments(
        __doc__, epochs="timed epochs per round and loop", rounds="alternations of the two loops"
    )
    port = free_port()
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
