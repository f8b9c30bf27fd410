"""StopFlag: whether this run's TrainJob was asked to stop, for loops that are not the trainjob Trainer."""

from __future__ import annotations

import threading

from trainjob.reporting.kube import ClusterAccess
from trainjob.reporting.stop_watch import StopRequestWatcher
from trainjob_api.contract import JobIdentity


class StopFlag:
    """Set once the TrainJob carries the stop-request annotation; watched on rank 0 only.

    The watch (one background thread, see `StopRequestWatcher`) starts on the first `is_set`,
    so a script that never asks costs the apiserver nothing. Without cluster access (other
    ranks, the local runner, a plain process) the flag stays clear.
    """

    def __init__(self, access: ClusterAccess | None, job: JobIdentity | None) -> None:
        self.access = access
        self.job = job
        self._event = threading.Event()
        self._watcher: StopRequestWatcher | None = None
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        """Whether a stop was requested (starts the watch on first use)."""
        if self._watcher is None and self.access is not None and self.job is not None:
            with self._lock:
                if self._watcher is None:
                    self._watcher = StopRequestWatcher(self.access, self.job, self._event.set).start()
        return self._event.is_set()

    def set(self) -> None:
        """Mark the stop as requested (as the watch does when it sees the annotation)."""
        self._event.set()

    def close(self) -> None:
        """Stop watching."""
        with self._lock:
            watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
