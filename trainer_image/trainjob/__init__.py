"""trainjob: the in-pod training library, the local runner and the CLI.

The public names load on first use, so that light modules (the environment contract, the
CLI's manifest checks, the operator) never pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CheckpointConfig": "trainjob.config",
    "EarlyStoppingConfig": "trainjob.config",
    "TrainerConfig": "trainjob.config",
    "seed_everything": "trainjob.distributed",
    "StopReason": "trainjob.state",
    "FitResult": "trainjob.trainer",
    "Trainer": "trainjob.trainer",
    "TrainingFailed": "trainjob.trainer",
    "TrainingInterrupted": "trainjob.trainer",
    "finish": "trainjob.loop_reporting",
    "report": "trainjob.loop_reporting",
    "report_early_stopping": "trainjob.loop_reporting",
    "stop_requested": "trainjob.loop_reporting",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trainjob' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later uses skip this function
    return value
