"""The reporter's history, kept as it reports and saved in the background at a low rate.

One seam for every reporting path: `start` once (it loads the history so far, so a restarted
attempt carries on from it, and marks the attempt), `record` each status fragment the reporter
sends, `close` at the end. Saving never blocks training: a `BackgroundWriter` saves at most every
`min_interval_s` (the history changes little between epochs and a save rewrites all of it), and
the document is serialized on the writer's thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from trainjob.reporting.history import History
from trainjob.reporting.history_store import HistoryStore
from trainjob.reporting.writer import BackgroundWriter

log = logging.getLogger(__name__)


class HistoryRecorder:
    """Keeps a `History` of the reported fragments and saves it to a `HistoryStore`."""

    def __init__(
        self, store: HistoryStore, min_interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.min_interval_s = min_interval_s
        self.history = History()
        self._clock = clock
        self._lock = threading.Lock()
        self._writer: BackgroundWriter | None = None

    @property
    def location(self) -> str:
        """Where the history is saved (a file path, or the ConfigMap)."""
        return self.store.location

    def start(self) -> None:
        """Load the history so far (a restarted attempt carries on) and begin this attempt."""
        stored = self.store.load()
        if stored:
            try:
                self.history = History.from_json(stored)
            except ValueError as error:
                log.warning("unreadable history in %s (%s): starting a new one", self.location, error)
        self.history.begin_attempt(self.store.attempt())
        self._writer = BackgroundWriter(self, self.min_interval_s, clock=self._clock)

    def record(self, fragment: Mapping[str, Any], *, epoch_end: bool) -> None:
        """Add a reported status fragment (see `History.ingest`) and schedule a save."""
        if self._writer is None:
            return
        with self._lock:
            self.history.ingest(fragment, epoch_end=epoch_end)
        self._writer.submit({})

    def write(self, fragment: dict[str, Any]) -> None:
        """Save the history as it is now (the writer's sink; `fragment` only says it changed)."""
        with self._lock:
            text = self.history.to_json()
        self.store.save(text)

    def close(self, timeout_s: float) -> bool:
        """Save what is left (waiting at most `timeout_s`) and stop; True when it was saved."""
        if self._writer is None:
            return True
        writer, self._writer = self._writer, None
        return writer.close(timeout_s)
