"""What a Lightning Trainer knows, as the fields of `RunReporter`: pure reads, no lightning import.

Works on `lightning.pytorch` and `pytorch_lightning` objects alike (the same attributes).
"""

from __future__ import annotations

import math
from typing import Any

#: Lightning's `EarlyStoppingReason` names, as the reasons trainjob's own early stopping uses.
STOPPING_REASONS = {
    "PATIENCE_EXHAUSTED": "EarlyStopping",
    "STOPPING_THRESHOLD": "StoppingThreshold",
    "DIVERGENCE_THRESHOLD": "Divergence",
    "NON_FINITE_METRIC": "Divergence",
}


def progress_of(trainer: Any, finished: bool = False) -> dict[str, Any]:
    """Epoch (1-based) and max epochs, and the global step.

    Lightning's `current_epoch` counts the epochs done: during an epoch it is that epoch's
    0-based index, after the fit the number of epochs run.
    """
    max_epochs = trainer.max_epochs
    fields: dict[str, Any] = {
        "epoch": max(trainer.current_epoch, 1) if finished else trainer.current_epoch + 1,
        "step": trainer.global_step,
        "total_epochs": max_epochs if max_epochs is not None and max_epochs > 0 else None,
    }
    if max_epochs is not None and max_epochs > 0:
        fields["epoch"] = min(fields["epoch"], max_epochs)
    return fields


def total_steps_of(trainer: Any) -> int | None:
    """Lightning's estimate of the optimizer steps of the whole fit, or None when unbounded."""
    try:
        total = trainer.estimated_stepping_batches
    except Exception:  # no dataloader length to estimate from (an iterable dataset)
        return None
    return int(total) if isinstance(total, int | float) and math.isfinite(total) and total > 0 else None


def metrics_of(callback_metrics: Any) -> dict[str, float]:
    """The logged metrics (`trainer.callback_metrics`) that are single numbers, as floats."""
    metrics: dict[str, float] = {}
    for name, value in callback_metrics.items():
        numel = getattr(value, "numel", None)
        if numel is not None and numel() != 1:
            continue
        try:
            metrics[str(name)] = float(value)
        except (TypeError, ValueError):
            continue
    return metrics


def early_stopping_of(callback: Any, max_epochs: int | None = None) -> dict[str, Any]:
    """The state of Lightning's `EarlyStopping`: wait, patience, best, and why and when it stopped."""
    reason_enum = getattr(callback, "stopping_reason", None)
    reason_name = getattr(reason_enum, "name", None)
    triggered = reason_name not in (None, "NOT_STOPPED") or bool(callback.stopped_epoch)
    best = float(callback.best_score)
    return {
        "triggered": triggered,
        "reason": STOPPING_REASONS.get(reason_name or "", "EarlyStopping") if triggered else None,
        "message": getattr(callback, "stopping_reason_message", None) if triggered else None,
        "epoch": callback.stopped_epoch + 1 if triggered else None,
        "best": best if math.isfinite(best) else None,
        "wait": int(callback.wait_count),
        "patience": int(callback.patience),
        "monitor": callback.monitor,
    }


def checkpoint_of(trainer: Any) -> str | None:
    """The latest checkpoint a `ModelCheckpoint` wrote (its last, else its best), if any."""
    for callback in trainer.checkpoint_callbacks:
        path = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
        if path:
            return str(path)
    return None
