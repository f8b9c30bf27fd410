"""RunReporter: any training loop's progress, metrics and early-stop state, into the job's status.

The one-call API (`trainjob.report`) and the framework integrations (Lightning, Hugging Face)
all report through it, and it writes through the same `BackgroundWriter`, sink choice and
field builders as the trainjob Trainer's `StatusReporter`. It imports no torch.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from trainjob.progress import ProgressTracker
from trainjob.reporting.fields import (
    checkpoint_fields,
    early_stopping_fields,
    metrics_fields,
    progress_fields,
)
from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.writer import BackgroundWriter, StatusSink

log = logging.getLogger(__name__)

#: Seconds the final write may take when the reporter closes (at exit, or by `finish`).
FLUSH_TIMEOUT_S = 10.0


class RunReporter:
    """Keeps the latest reported state of a run and sends it, rate-limited, to a status sink.

    With no sink (ranks other than 0, or a process outside any TrainJob) every call returns at
    once. A call only records numbers; the status is rebuilt at most every `min_interval_s`
    (or at once for a new epoch, a checkpoint, an early-stop or stop-on-request change) and
    handed to a background writer: it never waits on the network.
    """

    def __init__(
        self,
        sink: StatusSink | None,
        min_interval_s: float,
        *,
        history: HistoryRecorder | None = None,
        clock: Callable[[], float] = time.monotonic,
        last_word: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.sink = sink
        self.min_interval_s = min_interval_s
        #: Keeps what is reported beside the status (see `trainjob.reporting.history`).
        self.history = history
        #: Also gets the final status when the reporter closes (see `BackgroundWriter`).
        self.last_word = last_word
        self._clock = clock
        self._tracker = ProgressTracker(clock)
        self._lock = threading.Lock()
        self._writer: BackgroundWriter | None = None
        self._next_report = float("-inf")
        self._started = False
        self._epoch: int | None = None
        self._total_epochs = 0
        self._step = 0
        self._total_steps = 0
        self._samples: int | None = None
        self._metrics: dict[str, float] = {}
        self._best: dict[str, Any] = {}
        self._early: dict[str, Any] | None = None
        self._checkpoint: dict[str, Any] | None = None
        self._stopped_on_request = False
        self._completed = False
        self._given: dict[str, float | None] = {}

    @property
    def active(self) -> bool:
        """Whether this process reports (rank 0 of a TrainJob)."""
        return self.sink is not None

    @property
    def writer(self) -> BackgroundWriter | None:
        """The background writer, once the first status was sent."""
        return self._writer

    def due(self) -> bool:
        """Whether the next `report` would be sent (a caller may skip costly reads otherwise)."""
        return self.sink is not None and self._clock() >= self._next_report

    def report(
        self,
        *,
        epoch: int | None = None,
        total_epochs: int | None = None,
        step: int | None = None,
        total_steps: int | None = None,
        samples: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        checkpoint: str | None = None,
        completed: bool = False,
        percent: float | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        """Record where the run is (any subset of the fields) and send it when due.

        `epoch` is 1-based; `step` counts optimizer steps since the start; `samples` counts the
        samples seen so far by all ranks (for samples per second); `metrics` merge into the
        latest values; `checkpoint` names the checkpoint just written. `percent` and
        `eta_seconds`, when given, stand instead of the derived ones until the next call.
        """
        if self.sink is None:
            return
        with self._lock:
            new_epoch = epoch is not None and epoch != self._epoch
            if not self._started:
                self._tracker.begin(step or 0, samples or 0)
                self._started = True
            if epoch is not None:
                self._epoch = int(epoch)
            if total_epochs is not None:
                self._total_epochs = int(total_epochs)
            if step is not None:
                self._step = int(step)
            if total_steps is not None:
                self._total_steps = int(total_steps)
            if samples is not None:
                self._samples = int(samples)
            if metrics:
                self._metrics.update(metrics)
            if checkpoint is not None:
                self._checkpoint = checkpoint_fields(checkpoint, self._epoch)
            self._completed = self._completed or completed
            self._given = {"percent": percent, "etaSeconds": eta_seconds}
            urgent = new_epoch or checkpoint is not None or completed
            if urgent or self._clock() >= self._next_report:
                self._send(epoch_end=new_epoch)

    def report_early_stopping(
        self,
        *,
        triggered: bool,
        reason: str | None = None,
        message: str | None = None,
        epoch: int | None = None,
        best: float | None = None,
        wait: int | None = None,
        patience: int | None = None,
        monitor: str | None = None,
        best_epoch: int | None = None,
    ) -> None:
        """Record the early-stopping state (whoever decides it) and send it at once."""
        if self.sink is None:
            return
        with self._lock:
            self._early = early_stopping_fields(
                triggered=triggered,
                reason=reason,
                message=message,
                epoch=epoch,
                best=best,
                wait=wait,
                patience=patience,
            )
            self._best = {"monitor": monitor, "best": best, "best_epoch": best_epoch}
            self._send()

    def report_stopped_on_request(self) -> None:
        """Record that the run stops because its TrainJob was asked to stop, and send it at once."""
        if self.sink is None:
            return
        with self._lock:
            self._stopped_on_request = True
            self._send()

    def close(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Send the latest state and wait (at most `timeout_s`) for it to land; True when it did."""
        with self._lock:
            writer = self._writer
            if writer is None:
                return True
            self._send(final=True)
            self._writer = None
        landed = writer.close(timeout_s)
        if self.history is not None:
            landed = self.history.close(timeout_s) and landed
        return landed

    def fragment(self) -> dict[str, Any]:
        """The reporter-owned status fields for what was reported so far."""
        progress = progress_fields(
            self._tracker.measure(
                epoch=self._epoch or 0,
                total_epochs=self._total_epochs,
                step=self._step,
                total_steps=self._total_steps,
                samples=self._samples,
                completed=self._completed,
            )
        )
        if self._epoch is None:
            progress.pop("epoch", None)
        progress.update({key: value for key, value in self._given.items() if value is not None})
        fragment: dict[str, Any] = {"progress": progress}
        if self._metrics or self._best:
            fragment["metrics"] = metrics_fields(self._metrics, **self._best)
        if self._early is not None:
            fragment["earlyStopping"] = self._early
        if self._checkpoint is not None:
            fragment["checkpoint"] = self._checkpoint
        if self._stopped_on_request:
            fragment["stoppedOnRequest"] = True
        return fragment

    def _send(self, *, epoch_end: bool = False, final: bool = False) -> None:
        """Hand the current fragment to the writer (started on first use); the lock is held.

        The history gets it too, unless `final` (the final fragment repeats the last report).
        """
        assert self.sink is not None
        self._next_report = self._clock() + self.min_interval_s
        if self._writer is None:
            self._writer = BackgroundWriter(
                self.sink, self.min_interval_s, clock=self._clock, last_word=self.last_word
            )
            if self.history is not None:
                self.history.start()
            atexit.register(self.close)
        fragment = self.fragment()
        self._writer.submit(fragment)
        if self.history is not None and not final:
            self.history.record(fragment, epoch_end=epoch_end)
