"""The trainer's mutable state and the reasons a run can stop early."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class StopReason(enum.IntEnum):
    """Why training stopped before `max_epochs`; the value orders reasons by precedence."""

    EARLY_STOPPING = 0
    STOPPING_THRESHOLD = 1
    DIVERGENCE = 2
    NON_FINITE_LOSS = 3
    STOP_REQUESTED = 4
    SIGNAL = 5

    @property
    def label(self) -> str:
        """The CamelCase name used in status and conditions."""
        return "".join(part.title() for part in self.name.split("_"))


@dataclass
class StopRequest:
    """A request, from one rank, to stop; the ranks agree on it in one collective."""

    reason: StopReason
    message: str


@dataclass
class TrainerState:
    """Where the run is. Callbacks read it; only the trainer advances it.

    `epoch` is the 0-based index of the epoch in progress (or the last one, after fit);
    `batch_in_epoch` counts the batches done in it, so a mid-epoch checkpoint resumes exactly.
    """

    epoch: int = 0
    batch_in_epoch: int = 0
    global_step: int = 0
    max_epochs: int = 1
    steps_per_epoch: int = 0
    samples_seen: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    stop: StopRequest | None = None
    completed: bool = False

    @property
    def total_steps(self) -> int:
        """Training batches in the whole run, assuming it reaches `max_epochs`."""
        return self.steps_per_epoch * self.max_epochs
