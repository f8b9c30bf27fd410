"""LRAdjuster: learning-rate schedules, per step or per epoch, and reduce-on-plateau."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from trainjob.callbacks.base import Callback

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

SchedulerFactory = Callable[[torch.optim.Optimizer], LRScheduler | ReduceLROnPlateau]


class LRAdjuster(Callback):
    """Drives a torch LR scheduler built on the trainer's optimizer.

    `interval="step"` steps it after every optimizer step, `"epoch"` after every epoch;
    a `ReduceLROnPlateau` is stepped each validated epoch with the `monitor` metric. The
    scheduler's state is saved in checkpoints and restored on resume.
    """

    def __init__(
        self,
        schedule: SchedulerFactory,
        *,
        interval: Literal["step", "epoch"] = "epoch",
        monitor: str = "val_loss",
    ) -> None:
        if interval not in ("step", "epoch"):
            raise ValueError(f"LRAdjuster interval must be 'step' or 'epoch', got {interval!r}")
        self.schedule = schedule
        self.interval = interval
        self.monitor = monitor
        self.scheduler: LRScheduler | ReduceLROnPlateau | None = None
        self._pending_state: dict[str, Any] | None = None
        self._stepped_optimizer = False

    @classmethod
    def reduce_on_plateau(
        cls,
        monitor: str = "val_loss",
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 2,
        min_lr: float = 0.0,
        threshold: float = 1e-4,
    ) -> LRAdjuster:
        """Multiply the LR by `factor` when `monitor` has not improved for `patience` epochs."""
        return cls(
            lambda optimizer: ReduceLROnPlateau(
                optimizer, mode=mode, factor=factor, patience=patience, min_lr=min_lr, threshold=threshold
            ),
            interval="epoch",
            monitor=monitor,
        )

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's state."""
        return {"scheduler": self.scheduler.state_dict() if self.scheduler else self._pending_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the scheduler's state (applied once the scheduler exists)."""
        if self.scheduler is None:
            self._pending_state = state["scheduler"]
        elif state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])

    def on_fit_start(self, trainer: Trainer) -> None:
        """Build the scheduler on the trainer's optimizer."""
        assert trainer.optimizer is not None
        self.scheduler = self.schedule(trainer.optimizer)
        if self._pending_state is not None:
            self.scheduler.load_state_dict(self._pending_state)
            self._pending_state = None

    def on_before_optimizer_step(self, trainer: Trainer, optimizer: torch.optim.Optimizer) -> None:
        """Note that this batch steps the optimizer."""
        self._stepped_optimizer = True

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        """Step a per-step schedule after each optimizer step."""
        if self._stepped_optimizer and self.interval == "step" and isinstance(self.scheduler, LRScheduler):
            self.scheduler.step()
        self._stepped_optimizer = False

    def on_epoch_end(self, trainer: Trainer) -> None:
        """Step a per-epoch schedule, or a plateau scheduler with the monitored metric."""
        if isinstance(self.scheduler, ReduceLROnPlateau):
            value = trainer.state.metrics.get(self.monitor)
            if value is not None:
                self.scheduler.step(value)
        elif self.interval == "epoch" and self.scheduler is not None:
            self.scheduler.step()
