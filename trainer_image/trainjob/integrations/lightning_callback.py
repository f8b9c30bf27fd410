"""The Lightning callback's behaviour, for both `lightning.pytorch` and `pytorch_lightning` bases.

`trainjob.integrations.lightning.TrainJobCallback` mixes it into the framework's `Callback`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainjob.integrations import lightning_state as state
from trainjob.integrations.switch import auto_callbacks_enabled
from trainjob.loop_reporting import run_reporter, stop_flag
from trainjob.reporting.run import RunReporter
from trainjob.reporting.stop_flag import StopFlag


class LightningReporting:
    """Reports a Lightning fit into the TrainJob status, and stops it on request on every rank.

    Rank 0 reports progress (global step of the estimated total, epoch of max epochs) when due
    (cheap between), and at each training epoch's end also the logged metrics, the state of
    Lightning's own `EarlyStopping` and the latest `ModelCheckpoint` path. Every
    `stop_check_every_n_batches` batches and at each epoch's end, all ranks agree (Lightning's
    `reduce_boolean_decision`, as its EarlyStopping does) whether the job was asked to stop,
    and then stop together at the same step.
    """

    def __init__(self, stop_check_every_n_batches: int = 10) -> None:
        if stop_check_every_n_batches < 1:
            raise ValueError(
                f"stop_check_every_n_batches must be at least 1, not {stop_check_every_n_batches}"
            )
        self.stop_check_every_n_batches = stop_check_every_n_batches
        self._reporter: RunReporter | None = None
        self._stop: StopFlag | None = None
        self._active = False
        self._batches = 0

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        """Take part in fits only, and only as the first callback of this kind (no double reports)."""
        first = next((c for c in trainer.callbacks if isinstance(c, LightningReporting)), None)
        self._active = stage == "fit" and first is self
        if self._active and trainer.is_global_zero:
            self._reporter, self._stop = run_reporter(), stop_flag()

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        """Report the starting point."""
        if self._reporter is not None:
            self._reporter.report(total_steps=state.total_steps_of(trainer), **state.progress_of(trainer))

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        """Report progress when due; every few batches, agree on a stop request."""
        if not self._active:
            return
        reporter = self._reporter
        if reporter is not None and reporter.due():
            reporter.report(metrics=state.metrics_of(trainer.callback_metrics), **state.progress_of(trainer))
        self._batches += 1
        if self._batches % self.stop_check_every_n_batches == 0:
            self._agree_on_stop(trainer)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Report the epoch: progress, metrics, early stopping, checkpoint; agree on a stop request."""
        if not self._active:
            return
        self._report_all(trainer)
        self._agree_on_stop(trainer)

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Report the end state and wait (bounded) for it to land."""
        self._finish(trainer)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Land what is known before the error ends the process."""
        self._finish(trainer)

    def _report_all(self, trainer: Any, finished: bool = False) -> None:
        """Report everything; at the end of the fit nothing is left to wait for (ETA 0)."""
        reporter = self._reporter
        if reporter is None:
            return
        for early in trainer.early_stopping_callbacks[:1]:
            reporter.report_early_stopping(**state.early_stopping_of(early))
        reporter.report(
            metrics=state.metrics_of(trainer.callback_metrics),
            checkpoint=state.checkpoint_of(trainer),
            eta_seconds=0.0 if finished else None,
            **state.progress_of(trainer, finished),
        )

    def _agree_on_stop(self, trainer: Any) -> None:
        local = self._stop is not None and self._stop.is_set()
        if trainer.strategy.reduce_boolean_decision(local, all=False):
            trainer.should_stop = True
            if self._reporter is not None:
                self._reporter.report_stopped_on_request()

    def _finish(self, trainer: Any) -> None:
        if self._reporter is None:
            return
        self._report_all(trainer, finished=True)
        self._reporter.close()
        self._reporter = None
        if self._stop is not None:
            self._stop.close()
            self._stop = None


def factory_for(kind: Callable[[], Any]) -> Callable[[], list[Any]]:
    """A Lightning `callbacks_factory` entry point: `[kind()]` in a TrainJob worker, else nothing."""

    def callbacks_factory() -> list[Any]:
        return [kind()] if auto_callbacks_enabled() else []

    return callbacks_factory
