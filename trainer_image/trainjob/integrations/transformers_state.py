"""What a Hugging Face Trainer knows, as the fields of `RunReporter`: pure reads, no transformers import."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

EARLY_STOPPING_CALLBACK = "EarlyStoppingCallback"


def progress_of(state: Any, args: Any) -> dict[str, Any]:
    """Epoch (1-based: the trainer's fractional epoch, rounded up), epochs planned, global step, max steps."""
    total_epochs = math.ceil(args.num_train_epochs) if args.max_steps is None or args.max_steps <= 0 else None
    epoch = max(1, math.ceil(state.epoch or 0))
    if total_epochs:
        epoch = min(epoch, total_epochs)
    return {
        "epoch": epoch,
        "total_epochs": total_epochs,
        "step": state.global_step,
        "total_steps": state.max_steps or None,
    }


def numbers(logs: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of a log or an evaluation's metrics."""
    return {
        name: float(value)
        for name, value in logs.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def early_stopping_config(state: Any) -> dict[str, Any] | None:
    """`EarlyStoppingCallback`'s patience and threshold, from the trainer state's stateful callbacks."""
    saved = (state.stateful_callbacks or {}).get(EARLY_STOPPING_CALLBACK)
    if isinstance(saved, list):
        saved = saved[0] if saved else None
    return None if not saved else dict(saved.get("args") or {})


class EarlyStoppingMirror:
    """Follows `EarlyStoppingCallback`'s patience counter from the evaluations it also sees.

    The callback's counter is not reachable from another callback (the trainer state keeps a
    copy only at checkpoints), so this applies its documented rule to the same values: an
    evaluation improves when it beats `state.best_metric` by more than the threshold, in the
    direction of `args.greater_is_better`; otherwise the wait grows. Called after the
    callback, on the same evaluation, it sees the same `state.best_metric` the callback saw.
    """

    def __init__(self, patience: int, threshold: float) -> None:
        self.patience = patience
        self.threshold = threshold
        self.wait = 0
        self.best: float | None = None

    def update(self, args: Any, state: Any, value: float) -> None:
        """Take one evaluation's value of the monitored metric."""
        better = operator.gt if args.greater_is_better else operator.lt
        best = state.best_metric
        if best is None or (better(value, best) and abs(value - best) > self.threshold):
            self.wait = 0
        else:
            self.wait += 1
        self.best = value if best is None else (value if better(value, best) else float(best))


def monitored_metric(args: Any) -> str | None:
    """The evaluation metric early stopping watches (`eval_` + `metric_for_best_model`)."""
    name = args.metric_for_best_model
    if not name:
        return None
    return name if name.startswith("eval_") else f"eval_{name}"
