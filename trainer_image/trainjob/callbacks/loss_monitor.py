"""LossMonitor: stop with a clear reason when the loss stops being a finite number."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from trainjob.callbacks.base import Callback
from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer


class LossMonitor(Callback):
    """Checks the training loss every `check_every_n_steps` steps and every metric each epoch.

    A NaN or infinite loss poisons the weights for good, so training stops (on every rank,
    at the same step) with reason `NonFiniteLoss`, no checkpoint is written over the last
    good one, and `fit` raises `TrainingFailed`.
    """

    def __init__(self, check_every_n_steps: int = 10) -> None:
        if check_every_n_steps < 1:
            raise ValueError("check_every_n_steps must be at least 1")
        self.check_every_n_steps = check_every_n_steps

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        """Check the step's loss every few steps (reading it synchronises with the device)."""
        if trainer.state.global_step % self.check_every_n_steps:
            return
        value = float(loss)
        if not math.isfinite(value):
            trainer.request_stop(
                StopReason.NON_FINITE_LOSS,
                f"the training loss became {value} at epoch {trainer.state.epoch + 1}, "
                f"step {trainer.state.global_step}",
            )

    def on_epoch_end(self, trainer: Trainer) -> None:
        """Check the epoch's averaged metrics (a NaN anywhere in the epoch shows in the mean)."""
        for name in ("loss", "val_loss"):
            value = trainer.state.metrics.get(name)
            if value is not None and not math.isfinite(value):
                trainer.request_stop(
                    StopReason.NON_FINITE_LOSS, f"the {name} of epoch {trainer.state.epoch + 1} is {value}"
                )
                return
