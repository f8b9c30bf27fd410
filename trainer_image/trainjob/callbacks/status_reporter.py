"""StatusReporter: rank 0 reports progress, metrics and early-stop state without blocking a step."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from trainjob.callbacks.base import Callback
from trainjob.progress import ProgressTracker
from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.report import build_status
from trainjob.reporting.writer import BackgroundWriter, StatusSink

if TYPE_CHECKING:
    from trainjob.trainer import Trainer


class StatusReporter(Callback):
    """Sends the reporter-owned status fields to a sink through a `BackgroundWriter`.

    During an epoch the status is rebuilt at most every `min_interval_s` (the writer
    coalesces and rate-limits anyway); at each epoch's end and at the end of the fit it is
    always sent, and the final write is flushed for at most `flush_timeout_s`. With a `history`,
    every report is also recorded there (epoch ends as that epoch's points); `last_word` also
    gets the final status (see `BackgroundWriter`).
    """

    def __init__(
        self,
        sink: StatusSink,
        min_interval_s: float = 10.0,
        flush_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        history: HistoryRecorder | None = None,
        last_word: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.sink = sink
        self.history = history
        self.last_word = last_word
        self.min_interval_s = min_interval_s
        self.flush_timeout_s = flush_timeout_s
        self._clock = clock
        self._tracker = ProgressTracker(clock)
        self._writer: BackgroundWriter | None = None
        self._next_report = 0.0

    @property
    def writer(self) -> BackgroundWriter | None:
        """The background writer (rank 0, once fitting started)."""
        return self._writer

    def on_fit_start(self, trainer: Trainer) -> None:
        """Start the writer on rank 0 and report the starting point."""
        if not trainer.is_chief:
            return
        self._tracker.start(trainer.state)
        self._writer = BackgroundWriter(
            self.sink, self.min_interval_s, clock=self._clock, last_word=self.last_word
        )
        if self.history is not None:
            self.history.start()
        self._report(trainer)

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        """Report progress, at most every `min_interval_s`."""
        if self._writer is not None and self._clock() >= self._next_report:
            self._report(trainer)

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """Report the finished epoch, its metrics and any agreed stop."""
        if self._writer is not None:
            self._report(trainer, epoch_end=True)

    def on_fit_end(self, trainer: Trainer) -> None:
        """Report the end state and wait (bounded) for it to land."""
        self._finish(trainer)

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        """Land what is known before the error ends the process."""
        self._finish(trainer)

    def _report(self, trainer: Trainer, epoch_end: bool = False, final: bool = False) -> None:
        assert self._writer is not None
        self._next_report = self._clock() + self.min_interval_s
        fragment = build_status(trainer, self._tracker)
        self._writer.submit(fragment)
        if self.history is not None and not final:  # the final report repeats the last epoch's
            self.history.record(fragment, epoch_end=epoch_end)

    def _finish(self, trainer: Trainer) -> None:
        if self._writer is None:
            return
        self._report(trainer, final=True)
        self._writer.close(self.flush_timeout_s)
        self._writer = None
        if self.history is not None:
            self.history.close(self.flush_timeout_s)
