"""Trainer configuration, and how a TrainJob spec overrides it inside a worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Precision = Literal["32", "bf16", "fp16"]


@dataclass
class EarlyStoppingConfig:
    """When to stop because a monitored metric stopped improving (see `callbacks.EarlyStopping`)."""

    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = 3
    min_delta: float = 0.0
    stopping_threshold: float | None = None
    divergence_threshold: float | None = None


@dataclass
class CheckpointConfig:
    """Where and how often to checkpoint (see `callbacks.CheckpointSaver`)."""

    path: str
    every_epochs: int = 1
    keep_last: int = 3
    resume: bool = True


@dataclass
class TrainerConfig:
    """Everything the fit loop needs besides the model and the data.

    Inside a TrainJob the spec's `maxEpochs`, `earlyStopping` and `checkpoint` override the
    values given here (see `with_spec_overrides`): the manifest configures, the script defaults.
    """

    max_epochs: int = 10
    batch_size: int = 32
    val_batch_size: int | None = None
    num_workers: int = 0
    seed: int = 0
    precision: Precision = "32"
    accumulate_grad_batches: int = 1
    grad_clip_norm: float | None = None
    val_every_n_epochs: int = 1
    stop_check_every_n_steps: int = 10
    log_every_n_steps: int = 10
    rendezvous_timeout_s: float = 300.0
    collective_timeout_s: float = 600.0
    early_stopping: EarlyStoppingConfig | None = None
    checkpoint: CheckpointConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "max_epochs",
            "batch_size",
            "accumulate_grad_batches",
            "val_every_n_epochs",
            "stop_check_every_n_steps",
            "log_every_n_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainerConfig.{name} must be at least 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ValueError(f"TrainerConfig.num_workers must be >= 0, got {self.num_workers}")
        if self.precision not in ("32", "bf16", "fp16"):
            raise ValueError(
                f"TrainerConfig.precision must be '32', 'bf16' or 'fp16', got {self.precision!r}"
            )
        if self.grad_clip_norm is not None and self.grad_clip_norm <= 0:
            raise ValueError(f"TrainerConfig.grad_clip_norm must be positive, got {self.grad_clip_norm}")

    def with_spec_overrides(self, spec: Mapping[str, Any]) -> TrainerConfig:
        """This config with a TrainJob spec's trainer fields (camelCase, as in the CR) applied."""
        changes: dict[str, Any] = {}
        if spec.get("maxEpochs") is not None:
            changes["max_epochs"] = int(spec["maxEpochs"])
        if spec.get("earlyStopping") is not None:
            changes["early_stopping"] = EarlyStoppingConfig(**_snake_keys(spec["earlyStopping"]))
        if spec.get("checkpoint") is not None:
            changes["checkpoint"] = CheckpointConfig(**_snake_keys(spec["checkpoint"]))
        return dataclasses.replace(self, **changes)


def _snake_keys(camel: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "".join(f"_{c.lower()}" if c.isupper() else c for c in key): value for key, value in camel.items()
    }
