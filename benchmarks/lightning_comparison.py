"""trainjob's Trainer against PyTorch Lightning's Trainer: step time and peak memory, one run.

The same MLP, synthetic data, batch size, optimizer and 2 Gloo processes as
`benchmarks.trainer_overhead`, trained by three loops: the hand-written DDP loop (for
reference), trainjob's `Trainer` with its default callbacks, and Lightning's `Trainer` with
`strategy="ddp"` on CPU. Lightning runs lean: no logger, progress bar, model summary or
checkpoints (its defaults would add work trainjob's defaults do not do), and its own
`DistributedSampler`, as a Lightning user's code would have it.

Each loop runs in a fresh pair of processes that imports only what that loop needs, so that
a process's peak resident memory (VmHWM, the larger of the two ranks) is the cost of that
framework: its imports, its model and optimizer state, its loop. Rounds rotate the order of
the loops so drift on the machine hits all alike. Step time: the median over rounds and
epochs of an epoch's seconds per step, the first epoch of each process left out (warm-up).
The figures printed last are trainjob / Lightning: step time, then peak memory.

    python -m benchmarks.lightning_comparison [--epochs 4] [--steps 100] [--rounds 3]

Needs the `bench` extra (`uv pip install -e '.[bench]'`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks.procstat import peak_rss_bytes
from benchmarks.workload import (
    BATCH,
    WORLD,
    free_port,
    hand_written_epochs,
    join_group,
    make_data,
    make_model,
    make_optimizer,
    parse_loop_arguments,
    trainer_epochs,
)

LOOPS = ("hand_written", "trainjob", "lightning")
MIB = 1024 * 1024


def lightning_epochs(data: TensorDataset, epochs: int, root: str) -> list[float]:
    """The same training through Lightning's Trainer (DDP on CPU, lean); seconds per step."""
    import lightning  # imported only in the processes that measure it

    class Classifier(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = make_model()
            self.loss_fn = nn.CrossEntropyLoss()

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            inputs, targets = batch
            return self.loss_fn(self.model(inputs), targets)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return make_optimizer(self.parameters())

    class Timer(lightning.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._started = 0.0

        def on_train_epoch_start(self, trainer: lightning.Trainer, module: lightning.LightningModule) -> None:
            self._started = time.perf_counter()

        def on_train_batch_end(
            self, trainer: lightning.Trainer, module: lightning.LightningModule, *_: Any, **__: Any
        ) -> None:
            steps = int(trainer.num_training_batches)
            if trainer.fit_loop.epoch_loop.batch_progress.current.processed == steps:
                self.times.append((time.perf_counter() - self._started) / steps)

    torch.manual_seed(0)
    timer = Timer()
    trainer = lightning.Trainer(
        accelerator="cpu",
        devices=WORLD,
        strategy="ddp",
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root,
        callbacks=[timer],
    )
    trainer.fit(Classifier(), DataLoader(data, batch_size=BATCH, shuffle=True))
    assert trainer.world_size == WORLD, f"Lightning trained in a world of {trainer.world_size}"
    return timer.times


def worker(rank: int, port: int, loop: str, args: argparse.Namespace, scratch: str) -> None:
    """One rank of one loop: train, then write its epoch times and peak memory."""
    join_group(rank, port)
    data = make_data(args.steps)
    epochs = args.epochs + 1
    if loop == "hand_written":
        times = hand_written_epochs(rank, data, epochs)
    elif loop == "trainjob":
        times = trainer_epochs(data, epochs)
    else:
        times = lightning_epochs(data, epochs, scratch)
    result = {"times": times[1:], "peak_rss": peak_rss_bytes(os.getpid())}
    Path(scratch, f"{loop}-{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


def run_loop(loop: str, args: argparse.Namespace, scratch: str) -> tuple[list[float], int]:
    """Run `loop` in a fresh pair of processes: its epoch times (rank 0) and peak RSS (larger rank)."""
    mp.spawn(worker, args=(free_port(), loop, args, scratch), nprocs=WORLD, join=True)
    ranks = [json.loads(Path(scratch, f"{loop}-{rank}.json").read_text()) for rank in range(WORLD)]
    return ranks[0]["times"], max(rank["peak_rss"] for rank in ranks)


def main() -> None:
    args = parse_loop_arguments(
        __doc__, epochs="timed epochs per process", rounds="fresh process pairs per loop"
    )
    times: dict[str, list[float]] = {loop: [] for loop in LOOPS}
    peaks: dict[str, list[int]] = {loop: [] for loop in LOOPS}
    with tempfile.TemporaryDirectory() as scratch:
        for round_index in range(args.rounds):
            shift = round_index % len(LOOPS)
            for loop in LOOPS[shift:] + LOOPS[:shift]:
                epoch_times, peak = run_loop(loop, args, scratch)
                times[loop] += epoch_times
                peaks[loop].append(peak)
    step = {loop: statistics.median(times[loop]) for loop in LOOPS}
    peak = {loop: max(peaks[loop]) for loop in LOOPS}
    import lightning

    print(
        f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, lightning {lightning.__version__}, "
        f"{WORLD} Gloo processes, batch {BATCH}, {args.steps} steps/epoch"
    )
    for loop in LOOPS:
        print(
            f"{loop:>12}: median {step[loop] * 1000:.3f} ms/step over {len(times[loop])} epochs, "
            f"peak RSS {peak[loop] / MIB:.0f} MiB"
        )
    print(f"trainjob / hand-written: step time {step['trainjob'] / step['hand_written']:.4f}")
    print(
        f"ratio trainjob/lightning: step time {step['trainjob'] / step['lightning']:.4f}, "
        f"peak memory {peak['trainjob'] / peak['lightning']:.4f}"
    )


if __name__ == "__main__":
    main()
