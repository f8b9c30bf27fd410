"""Progress arithmetic shared by the progress bar and the status reporter: percent, rate, ETA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from trainjob.state import TrainerState


@dataclass(frozen=True)
class Progress:
    """A snapshot of how far a run is; epochs are 1-based, as people count them."""

    epoch: int
    total_epochs: int
    step: int
    total_steps: int
    percent: float
    eta_seconds: float | None
    samples_per_second: float | None
    steps_per_second: float | None


class ProgressTracker:
    """Measures rates from the moment `start` is called (after any resume), so ETA stays honest."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start_time = 0.0
        self._start_step = 0
        self._start_samples = 0

    def start(self, state: TrainerState) -> None:
        """Begin measuring from the state as it is now."""
        self._start_time = self._clock()
        self._start_step = state.global_step
        self._start_samples = state.samples_seen

    def snapshot(self, state: TrainerState) -> Progress:
        """Where the run is and how fast it goes."""
        total = state.total_steps
        step = state.global_step
        elapsed = self._clock() - self._start_time
        done_steps = step - self._start_step
        steps_per_second = done_steps / elapsed if elapsed > 0 and done_steps > 0 else None
        samples_per_second = (
            (state.samples_seen - self._start_samples) / elapsed if steps_per_second else None
        )
        remaining = max(total - step, 0)
        eta = remaining / steps_per_second if steps_per_second else None
        if state.completed:
            eta = 0.0
        percent = 100.0 if state.completed else (100.0 * step / total if total else 0.0)
        return Progress(
            epoch=min(state.epoch + 1, state.max_epochs),
            total_epochs=state.max_epochs,
            step=step,
            total_steps=total,
            percent=round(min(percent, 100.0), 2),
            eta_seconds=None if eta is None else round(eta, 1),
            samples_per_second=None if samples_per_second is None else round(samples_per_second, 2),
            steps_per_second=steps_per_second,
        )
