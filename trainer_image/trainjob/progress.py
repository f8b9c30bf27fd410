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
        self.begin(state.global_step, state.samples_seen)

    def begin(self, step: int = 0, samples: int = 0) -> None:
        """Begin measuring from `step` (and `samples` seen), now."""
        self._start_time = self._clock()
        self._start_step = step
        self._start_samples = samples

    def snapshot(self, state: TrainerState) -> Progress:
        """Where a trainjob Trainer's run is and how fast it goes."""
        return self.measure(
            epoch=min(state.epoch + 1, state.max_epochs),
            total_epochs=state.max_epochs,
            step=state.global_step,
            total_steps=state.total_steps,
            samples=state.samples_seen,
            completed=state.completed,
        )

    def measure(
        self,
        *,
        epoch: int,
        total_epochs: int,
        step: int,
        total_steps: int,
        samples: int | None = None,
        completed: bool = False,
    ) -> Progress:
        """Where a run is and how fast it goes, from plain counts (a total of 0 is unknown).

        `epoch` is 1-based. Percent and ETA come from steps when `total_steps` is known, else
        from epochs (`epoch` of `total_epochs` reached); samples per second only when `samples`
        (seen so far, all ranks) is given.
        """
        elapsed = self._clock() - self._start_time
        done_steps = step - self._start_step
        steps_per_second = done_steps / elapsed if elapsed > 0 and done_steps > 0 else None
        samples_per_second = None
        if steps_per_second and samples is not None and samples > self._start_samples:
            samples_per_second = (samples - self._start_samples) / elapsed
        if total_steps:
            fraction = step / total_steps
            eta = max(total_steps - step, 0) / steps_per_second if steps_per_second else None
        elif total_epochs:
            fraction = epoch / total_epochs
            eta = elapsed * (1 - fraction) / fraction if fraction > 0 and elapsed > 0 else None
        else:
            fraction, eta = 0.0, None
        if completed:
            fraction, eta = 1.0, 0.0
        return Progress(
            epoch=epoch,
            total_epochs=total_epochs,
            step=step,
            total_steps=total_steps,
            percent=round(min(100.0 * fraction, 100.0), 2),
            eta_seconds=None if eta is None else round(max(eta, 0.0), 1),
            samples_per_second=None if samples_per_second is None else round(samples_per_second, 2),
            steps_per_second=steps_per_second,
        )
