"""EarlyStopping: stop when a monitored metric stops improving, crosses a goal, or diverges."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from trainjob.callbacks.base import Callback
from trainjob.config import EarlyStoppingConfig
from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

EARLY_STOP_REASONS = (StopReason.EARLY_STOPPING, StopReason.STOPPING_THRESHOLD, StopReason.DIVERGENCE)


class EarlyStopping(Callback):
    """Watches `monitor` after each validated epoch.

    It stops when the value has not improved by more than `min_delta` for `patience`
    epochs in a row, when it reaches `stopping_threshold` (good enough), or when it passes
    `divergence_threshold` or becomes non-finite (hopeless). Every rank sees the same
    averaged metrics and the ranks agree in one collective, so all stop at the same step.
    """

    def __init__(self, config: EarlyStoppingConfig | None = None, **options: Any) -> None:
        self.config = config or EarlyStoppingConfig(**options)
        if self.config.mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', got {self.config.mode!r}")
        if self.config.patience < 0 or self.config.min_delta < 0:
            raise ValueError("EarlyStopping patience and min_delta must not be negative")
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.triggered = False
        self.reason: str | None = None
        self.message: str | None = None
        self.stopped_epoch: int | None = None

    @property
    def monitor(self) -> str:
        """The metric watched."""
        return self.config.monitor

    def state_dict(self) -> dict[str, Any]:
        """Best value, its epoch, and patience used."""
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore best value, its epoch, and patience used."""
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]

    def on_fit_start(self, trainer: Trainer) -> None:
        """Fail fast when the monitored metric can never appear."""
        available = {"loss", "lr"}
        if trainer.val_data is not None:
            available |= {"val_loss", *(f"val_{name}" for name in trainer.metric_fns)}
        if self.monitor not in available:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this run never produces; "
                f"choose one of {sorted(available)}"
            )

    def on_epoch_end(self, trainer: Trainer) -> None:
        """Update best and patience; request a stop when a rule fires."""
        value = trainer.state.metrics.get(self.monitor)
        if value is None:
            return
        epoch = trainer.state.epoch + 1
        decision = self.evaluate(value, epoch)
        if decision is not None:
            trainer.request_stop(*decision)

    def evaluate(self, value: float, epoch: int) -> tuple[StopReason, str] | None:
        """Take one epoch's value (epochs 1-based); return a stop (reason, message) or None."""
        config = self.config
        name = self.monitor
        if not math.isfinite(value):
            return StopReason.DIVERGENCE, f"{name} is {value} at epoch {epoch}"
        if config.divergence_threshold is not None and self._beyond(config.divergence_threshold, value):
            return (
                StopReason.DIVERGENCE,
                f"{name}={value:.6g} passed the divergence threshold "
                f"{config.divergence_threshold} at epoch {epoch}",
            )
        if self.best is None or self._improved(value, self.best):
            self.best, self.best_epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        if config.stopping_threshold is not None and self._reached(config.stopping_threshold, value):
            return (
                StopReason.STOPPING_THRESHOLD,
                f"{name}={value:.6g} reached the stopping threshold "
                f"{config.stopping_threshold} at epoch {epoch}",
            )
        if self.wait > 0 and self.wait >= config.patience:
            return (
                StopReason.EARLY_STOPPING,
                f"{name} did not improve by more than {config.min_delta} for {self.wait} epochs; "
                f"best {self.best:.6g} at epoch {self.best_epoch}",
            )
        return None

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """Record an agreed early stop for reporting."""
        stop = trainer.state.stop
        if stop is not None and stop.reason in EARLY_STOP_REASONS and not self.triggered:
            self.triggered = True
            self.reason = stop.reason.label
            self.message = stop.message
            self.stopped_epoch = trainer.state.epoch + 1

    def _improved(self, value: float, best: float) -> bool:
        if self.config.mode == "min":
            return value < best - self.config.min_delta
        return value > best + self.config.min_delta

    def _reached(self, threshold: float, value: float) -> bool:
        return value <= threshold if self.config.mode == "min" else value >= threshold

    def _beyond(self, threshold: float, value: float) -> bool:
        return value > threshold if self.config.mode == "min" else value < threshold
