"""The reporter-owned status fields, shaped as in the CRD, from plain values (no trainer, no torch).

Every reporter (the trainjob Trainer's, the one-call API, the Lightning and Hugging Face
integrations) builds its fragments here, so all of them write the same fields the same way.
Non-finite numbers and None are left out: JSON cannot carry the former and a merge patch
reads a null as a deletion.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

from trainjob.progress import Progress

#: Metric names read into the well-known `metrics` fields, first match wins.
LOSS_NAMES = ("loss", "train_loss", "train/loss")
VAL_LOSS_NAMES = ("val_loss", "eval_loss", "valid_loss", "validation_loss", "val/loss", "eval/loss")
LR_NAMES = ("lr", "learning_rate", "lr-SGD", "lr-Adam", "lr-AdamW")


def timestamp(now: datetime.datetime | None = None) -> str:
    """A time as Kubernetes writes it (now, unless given)."""
    return (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def finite(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` without None and without non-finite floats."""
    return {
        key: value
        for key, value in fields.items()
        if value is not None and not (isinstance(value, float) and not math.isfinite(value))
    }


def progress_fields(progress: Progress, now: datetime.datetime | None = None) -> dict[str, Any]:
    """`status.progress` from a progress snapshot; unknown totals (0) are left out."""
    return finite(
        {
            "epoch": progress.epoch,
            "totalEpochs": progress.total_epochs or None,
            "step": progress.step,
            "totalSteps": progress.total_steps or None,
            "percent": progress.percent,
            "etaSeconds": progress.eta_seconds,
            "samplesPerSecond": progress.samples_per_second,
            "lastUpdateTime": timestamp(now),
        }
    )


def metrics_fields(
    values: Mapping[str, float],
    *,
    monitor: str | None = None,
    best: float | None = None,
    best_epoch: int | None = None,
) -> dict[str, Any]:
    """`status.metrics`: every numeric value, the well-known ones by name, and the best so far."""
    numbers = {
        name: float(value)
        for name, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    return finite(
        {
            "loss": _first(numbers, LOSS_NAMES),
            "valLoss": _first(numbers, VAL_LOSS_NAMES),
            "lr": _first(numbers, LR_NAMES),
            "values": finite(numbers),
            "monitor": monitor,
            "best": best,
            "bestEpoch": best_epoch,
        }
    )


def early_stopping_fields(
    *,
    triggered: bool,
    reason: str | None = None,
    message: str | None = None,
    epoch: int | None = None,
    best: float | None = None,
    wait: int | None = None,
    patience: int | None = None,
) -> dict[str, Any]:
    """`status.earlyStopping`: whether it stopped the run, why, and the wait against the patience."""
    return finite(
        {
            "triggered": triggered,
            "reason": reason,
            "message": message,
            "epoch": epoch,
            "best": best,
            "wait": wait,
            "patience": patience,
        }
    )


def checkpoint_fields(path: str, epoch: int | None = None) -> dict[str, Any]:
    """`status.checkpoint`: the latest checkpoint's path and epoch."""
    return finite({"path": str(path), "epoch": epoch})


def _first(values: Mapping[str, float], names: tuple[str, ...]) -> float | None:
    return next((values[name] for name in names if name in values), None)
