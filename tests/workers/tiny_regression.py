"""A tiny deterministic regression job for multi-process tests.

Writes `<out>/rank<R>.json` (steps run, stop reason, final weights) from every rank.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import weakref
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from trainjob import StopReason, Trainer, TrainerConfig, seed_everything
from trainjob.callbacks import Callback


class GroupWatch(Callback):
    """Keeps a weak reference to the process group, to tell whether leaving it destroyed it."""

    def __init__(self) -> None:
        self.group: weakref.ref | None = None

    def on_fit_start(self, trainer) -> None:
        if torch.distributed.is_initialized():
            self.group = weakref.ref(torch.distributed.group.WORLD)


class StopAt(Callback):
    """Rank `rank` asks to stop after `step` steps (as a NaN or a signal would, on one rank only)."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_end(self, trainer, loss, batch_idx) -> None:
        if trainer.rank == self.rank and trainer.state.global_step == self.step:
            trainer.request_stop(StopReason.STOP_REQUESTED, f"test stop on rank {self.rank}")


class CrashAt(Callback):
    """Rank `rank` dies abruptly (exit code 3) after `step` steps, once: `marker` remembers it."""

    def __init__(self, rank: int, step: int, marker: Path) -> None:
        self.rank, self.step, self.marker = rank, step, marker

    def on_train_batch_end(self, trainer, loss, batch_idx) -> None:
        if trainer.rank == self.rank and trainer.state.global_step == self.step and not self.marker.exists():
            self.marker.touch()
            os._exit(3)


class HangAt(Callback):
    """Rank `rank` stops making progress after `step` steps, for good (as a deadlocked worker), once:
    `marker` remembers it."""

    def __init__(self, rank: int, step: int, marker: Path) -> None:
        self.rank, self.step, self.marker = rank, step, marker

    def on_train_batch_end(self, trainer, loss, batch_idx) -> None:
        if trainer.rank == self.rank and trainer.state.global_step == self.step and not self.marker.exists():
            self.marker.touch()
            while True:
                time.sleep(3600)


class Slow(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, trainer, loss, batch_idx) -> None:
        time.sleep(self.seconds)


class Announce(Callback):
    """Say on stderr when this rank is in the process group, so a stuck start shows in the log."""

    def on_fit_start(self, trainer) -> None:
        group = f"rank {trainer.rank} of {trainer.world_size}"
        say(f"{group}: in the process group, from step {trainer.state.global_step}")


def say(line: str) -> None:
    """One timestamped line on stderr."""
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


class Signal(Callback):
    """Write a marker once a step is reached, so a test knows when to act."""

    def __init__(self, path: Path, step: int) -> None:
        self.path, self.step = path, step

    def on_train_batch_end(self, trainer, loss, batch_idx) -> None:
        if trainer.state.global_step == self.step:
            self.path.write_text(str(os.getpid()))


def dataset(size: int = 256) -> TensorDataset:
    generator = torch.Generator().manual_seed(1234)
    inputs = torch.randn(size, 8, generator=generator)
    targets = inputs @ torch.arange(1.0, 9.0).unsqueeze(1) + 0.1 * torch.randn(size, 1, generator=generator)
    return TensorDataset(inputs, targets)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--accumulate", type=int, default=1)
    parser.add_argument("--stop-rank", type=int)
    parser.add_argument("--stop-step", type=int)
    parser.add_argument("--crash-rank", type=int)
    parser.add_argument("--crash-step", type=int)
    parser.add_argument("--hang-rank", type=int)
    parser.add_argument("--hang-step", type=int)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--marker-step", type=int)
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    say(f"worker started (torch imported), RANK {os.environ.get('RANK', '0')}")
    seed_everything(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))
    watch = GroupWatch()
    callbacks: list[Callback] = [Announce(), watch]
    if args.stop_rank is not None:
        callbacks.append(StopAt(args.stop_rank, args.stop_step))
    if args.crash_rank is not None:
        callbacks.append(CrashAt(args.crash_rank, args.crash_step, args.out / "crashed"))
    if args.hang_rank is not None:
        callbacks.append(HangAt(args.hang_rank, args.hang_step, args.out / "hung"))
    if args.sleep:
        callbacks.append(Slow(args.sleep))
    if args.marker_step is not None:
        callbacks.append(Signal(args.out / "marker", args.marker_step))
    trainer = Trainer(
        model,
        lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        dataset(),
        loss_fn=nn.MSELoss(),
        val_data=dataset(64),
        config=TrainerConfig(
            max_epochs=args.epochs,
            batch_size=args.batch_size,
            accumulate_grad_batches=args.accumulate,
            stop_check_every_n_steps=1,
        ),
        callbacks=callbacks,
    )
    result = trainer.fit()
    weights = [p.detach().flatten().tolist() for p in trainer.unwrapped_model.parameters()]
    (args.out / f"rank{trainer.rank}.json").write_text(
        json.dumps(
            {
                "global_step": result.global_step,
                "epochs_completed": result.epochs_completed,
                "stop": None if result.stop is None else [result.stop.reason.label, result.stop.message],
                "weights": weights,
                "metrics": result.metrics,
                "group_outlived_fit": watch.group is not None and watch.group() is not None,
            }
        )
    )


if __name__ == "__main__":
    main()
