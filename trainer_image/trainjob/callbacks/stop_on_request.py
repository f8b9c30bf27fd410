"""StopOnRequest: a graceful stop asked for from outside, through the TrainJob's annotation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trainjob.callbacks.base import Callback
from trainjob.reporting.kube import ClusterAccess
from trainjob.reporting.stop_watch import StopRequestWatcher
from trainjob.state import StopReason
from trainjob_api.contract import JobIdentity
from trainjob_api.names import STOP_ANNOTATION

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

STOP_MESSAGE = f"stop requested through the {STOP_ANNOTATION} annotation"


class StopOnRequest(Callback):
    """Rank 0 watches its TrainJob; on a stop request every rank stops at the same step.

    The watcher thread only records the request (`Trainer.request_stop` is thread-safe); the
    ranks agree on it at their next stop check, checkpoint, and end the fit normally (exit 0).
    """

    def __init__(self, access: ClusterAccess, job: JobIdentity) -> None:
        self.access = access
        self.job = job
        self._watcher: StopRequestWatcher | None = None

    def on_fit_start(self, trainer: Trainer) -> None:
        """Start watching on rank 0."""
        if trainer.is_chief:
            self._watcher = StopRequestWatcher(
                self.access, self.job, lambda: trainer.request_stop(StopReason.STOP_REQUESTED, STOP_MESSAGE)
            ).start()

    def on_fit_end(self, trainer: Trainer) -> None:
        """Stop watching."""
        self._close()

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        """Stop watching."""
        self._close()

    def _close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
