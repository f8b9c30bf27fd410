"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch

from trainjob.callbacks import Callback

if TYPE_CHECKING:
    from trainjob import Trainer


class EpochTimer(Callback):
    """Times each epoch from its start to the end of its last training batch (seconds per step)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._started = 0.0

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        if batch_idx + 1 == trainer.state.steps_per_epoch:
            self.times.append((time.perf_counter() - self._started) / trainer.state.steps_per_epoch)
