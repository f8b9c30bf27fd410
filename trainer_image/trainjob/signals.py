"""Graceful stop on SIGTERM (what Kubernetes sends) and SIGINT."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulStop:
    """While active, the first SIGTERM or SIGINT asks the trainer to stop at the next check.

    Every rank then finishes its current step, the ranks agree to stop, the checkpoint
    callback saves, and `fit` returns. A second signal restores the default behaviour and
    re-delivers it, so an impatient Ctrl-C still ends the process.
    """

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._trainer.stop_requested_by(StopReason.SIGNAL):
            signal.signal(signum, self._previous.pop(signum, signal.SIG_DFL))
            signal.raise_signal(signum)
            return
        self._trainer.request_stop(
            StopReason.SIGNAL, f"received {name}: stopped gracefully after checkpointing"
        )
