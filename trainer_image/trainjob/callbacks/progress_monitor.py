"""ProgressMonitor: a live progress bar on rank 0, or plain lines when output is not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

import torch
from rich.console import Console
from rich.progress import Progress, TaskID

from trainjob.callbacks.base import Callback
from trainjob.progress import ProgressTracker
from trainjob.progress_bar import training_bar

if TYPE_CHECKING:
    from trainjob.trainer import Trainer


class ProgressMonitor(Callback):
    """Shows epoch, loss, throughput and ETA on rank 0.

    On a terminal it draws a bar refreshed at most `refresh_s` apart (the loss is read from
    the device only then, so the loop never waits on it); otherwise it prints one line per
    epoch, which is what log collectors and the local runner want.
    """

    def __init__(
        self,
        refresh_s: float = 0.5,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_s = refresh_s
        self._stream = stream
        self._clock = clock
        self._tracker = ProgressTracker(clock)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._next_refresh = 0.0
        self._loss: float | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        """Start measuring and, on a terminal, draw the bar."""
        if not trainer.is_chief:
            return
        self._tracker.start(trainer.state)
        stream = self._stream or sys.stdout
        if stream.isatty():
            self._bar, self._task = training_bar(Console(file=stream), trainer.state.total_steps or None)

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        """Refresh the bar, at most every `refresh_s`."""
        if self._bar is None:
            return
        now = self._clock()
        if now < self._next_refresh:
            return
        self._next_refresh = now + self.refresh_s
        self._loss = float(loss)
        self._update(trainer)

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """Report the finished epoch."""
        if not trainer.is_chief:
            return
        if self._bar is not None:
            self._update(trainer)
            return
        progress = self._tracker.snapshot(trainer.state)
        metrics = " ".join(f"{name}={value:.4g}" for name, value in sorted(trainer.state.metrics.items()))
        rate = f" {progress.samples_per_second:.0f} samples/s" if progress.samples_per_second else ""
        eta = f" eta {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else ""
        print(
            f"epoch {progress.epoch}/{progress.total_epochs} {progress.percent:.0f}% {metrics}{rate}{eta}",
            file=self._stream or sys.stdout,
            flush=True,
        )

    def on_fit_end(self, trainer: Trainer) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._update(trainer)
            self._bar.stop()
            self._bar = None

    def _update(self, trainer: Trainer) -> None:
        assert self._bar is not None and self._task is not None
        progress = self._tracker.snapshot(trainer.state)
        loss = trainer.state.metrics.get("loss", self._loss)
        self._bar.update(
            self._task,
            completed=progress.step,
            epoch=f"{progress.epoch}/{progress.total_epochs}",
            loss="-" if loss is None else f"{loss:.4f}",
            rate=f"{progress.samples_per_second:.0f} samples/s" if progress.samples_per_second else "",
        )
