"""One watch on the TrainJobs, shared by every open page: the latest of each, and each change pushed out."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from trainjob.client.connection import ClusterError
from trainjob.client.trainjobs import TrainJob
from trainjob.dashboard.rows import LossTrail, Row, job_key, key_of, row
from trainjob.dashboard.sse import Broadcast, Subscription, frame

log = logging.getLogger(__name__)

#: The watch's changes: ("SYNC", every TrainJob) or ("ADDED" | "MODIFIED" | "DELETED", one).
Changes = Callable[[], Iterator[tuple[str, Any]]]
#: Every history by (namespace, name), to start the loss trails from (may raise ClusterError).
Histories = Callable[[], dict[tuple[str, str], dict[str, Any]]]
RETRY_S = (1.0, 2.0, 5.0, 10.0)


class JobHub:
    """The TrainJobs as the one watch last saw them, and the pages it tells about every change.

    Events to pages: `snapshot` (every row, on connect and after a relist; `synced` is false
    until the first list came back, so a page can tell "loading" from "none"), `update` (one
    row), `delete` (a key), `watch-error` (why the watch fails, while it retries).
    """

    def __init__(self, changes: Changes, histories: Histories | None = None) -> None:
        self._changes = changes
        self._histories = histories
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainJob] = {}
        self._trails: dict[str, LossTrail] = {}
        self._error: str | None = None
        self.synced = threading.Event()
        self.broadcast = Broadcast()

    def start(self) -> threading.Thread:
        """Run the watch in a daemon thread (it retries with backoff when the apiserver fails)."""
        thread = threading.Thread(target=self.run, name="trainjob-watch", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        """Follow the changes forever."""
        failures = 0
        while True:
            try:
                for kind, data in self._changes():
                    failures = 0
                    self.apply(kind, data)
            except Exception as error:  # the watch must outlive anything the stream throws
                if not isinstance(error, ClusterError):
                    log.exception("watching TrainJobs")
                log.warning("watching TrainJobs: %s", error)
                with self._lock:
                    self._error = str(error) or type(error).__name__
                    self.broadcast.publish(frame("watch-error", {"message": self._error}))
            time.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
            failures += 1

    def apply(self, kind: str, data: Any) -> None:
        """Take in one change of the watch, and tell every page."""
        if kind == "SYNC":
            seeds = self._seeds() if self._histories and not self.synced.is_set() else {}
            with self._lock:
                self._error = None
                self._jobs = {key_of(job): job for job in data}
                self._trails = {key: self._trails.get(key) or LossTrail() for key in self._jobs}
                for key, job in self._jobs.items():
                    if key in seeds:
                        self._trails[key].seed(seeds[key])
                    self._trails[key].record(job)
                self.synced.set()
                self.broadcast.publish(self._snapshot_frame())
            return
        key = key_of(data)
        with self._lock:
            if kind == "DELETED":
                self._jobs.pop(key, None)
                self._trails.pop(key, None)
                self.broadcast.publish(frame("delete", {"key": key}))
                return
            self._jobs[key] = data
            trail = self._trails.setdefault(key, LossTrail())
            trail.record(data)
            self.broadcast.publish(frame("update", row(data, trail.values())))

    def subscribe(self) -> Subscription:
        """A new page's subscription: the snapshot first, then every change after it."""
        with self._lock:
            return self.broadcast.subscribe(self._snapshot_frame())

    def rows(self) -> list[Row]:
        """Every TrainJob's row now."""
        with self._lock:
            return self._rows()

    def get(self, namespace: str, name: str) -> TrainJob | None:
        """The TrainJob as last seen, or None."""
        with self._lock:
            return self._jobs.get(job_key(namespace, name))

    def _rows(self) -> list[Row]:
        return [row(job, self._trails[key].values()) for key, job in sorted(self._jobs.items())]

    def _snapshot_frame(self) -> bytes:
        return frame("snapshot", {"rows": self._rows(), "error": self._error, "synced": self.synced.is_set()})

    def _seeds(self) -> dict[str, dict[str, Any]]:
        assert self._histories is not None
        try:
            return {job_key(*key): doc for key, doc in self._histories().items()}
        except ClusterError as error:  # no right to list ConfigMaps: the sparklines start empty
            log.info("no histories for the sparklines: %s", error)
            return {}
