"""Watches one TrainJob for the stop-request annotation, from a background thread.

One long-lived watch per job (a `fieldSelector` on its name, so the per-job Role's
`resourceNames` authorise it) instead of polling: the request is seen within moments and a
thousand idle jobs cost the apiserver nothing but open connections.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import urllib.parse
from collections.abc import Callable

from trainjob.reporting.kube import ApiConnection, ApiError, ClusterAccess, trainjob_path
from trainjob_api.contract import JobIdentity
from trainjob_api.names import stop_requested

log = logging.getLogger(__name__)

#: How long the apiserver keeps one watch open before the watcher opens the next.
WATCH_SECONDS = 240
#: How long `close` waits for the watch thread to end.
CLOSE_TIMEOUT_S = 5.0


class _Restart(Exception):
    """The watch must start over from a fresh read (its resourceVersion expired)."""


class StopRequestWatcher:
    """Calls `on_request` once, from its own daemon thread, when the job is asked to stop.

    Faults are retried with capped exponential backoff and jitter, whatever they are. An answer
    that looks permanent (unauthorised, forbidden, not found) is logged as an error and retried
    at the longest interval: an apiserver that has just restarted gives such answers until its
    caches have synced, and a watch given up then would never see the request.
    """

    def __init__(
        self,
        access: ClusterAccess,
        job: JobIdentity,
        on_request: Callable[[], None],
        *,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 15.0,
    ) -> None:
        self.access = access
        self.job = job
        self.on_request = on_request
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._closed = threading.Event()
        self._connection: ApiConnection | None = None
        self._thread = threading.Thread(target=self._run, name="trainjob-stop-watch", daemon=True)

    def start(self) -> StopRequestWatcher:
        """Start watching; returns self."""
        self._thread.start()
        return self

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Stop watching: end the open watch and wait (at most `timeout_s`) for the thread to end.

        A thread left blocked in a TLS read would wake up on the next event, even while the
        process tears down the interpreter and the TLS library around it.
        """
        self._closed.set()
        connection = self._connection
        if connection is not None:
            connection.interrupt()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                if self._watch_until_requested():
                    self.on_request()
                    return
                failures = 0
            except _Restart:
                failures = 0
            except Exception as error:
                if self._closed.is_set():  # `close` ended the watch: not a fault
                    return
                failures += 1
                self._back_off(failures, error)

    def _back_off(self, failures: int, error: Exception) -> None:
        """Wait before the next try: longer after each failure, the longest after a permanent-looking one."""
        permanent = isinstance(error, ApiError) and error.permanent
        delay = self.max_backoff_s if permanent else self.base_backoff_s * 2 ** (failures - 1)
        delay = min(self.max_backoff_s, delay) * (0.5 + random.random() / 2)
        job = f"{self.job.namespace}/{self.job.name}"
        what = f"stop-request watch of {job} failed ({type(error).__name__}: {error})"
        if failures > 1:
            log.debug("%s; retrying in %.1fs", what, delay)
        elif permanent:
            log.error("%s; stop requests are not seen while this lasts; retrying in %.1fs", what, delay)
        else:
            log.warning("%s; retrying in %.1fs", what, delay)
        self._closed.wait(delay)

    def _watch_until_requested(self) -> bool:
        """Read the job, then watch it until a stop request (True) or the watch ends (False)."""
        connection = self.access.connect(timeout_s=WATCH_SECONDS + 30)
        self._connection = connection
        try:
            return self._read_then_watch(connection)
        finally:
            self._connection = None
            connection.close()

    def _read_then_watch(self, connection: ApiConnection) -> bool:
        trainjob = json.loads(connection.request("GET", trainjob_path(self.job)))
        if stop_requested(trainjob):
            return True
        if self._closed.is_set():  # closed while reading: `close` may have found no socket to end
            return False
        version = trainjob["metadata"]["resourceVersion"]
        query = urllib.parse.urlencode(
            {
                "watch": "true",
                "fieldSelector": f"metadata.name={self.job.name}",
                "resourceVersion": version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": WATCH_SECONDS,
            }
        )
        collection = trainjob_path(self.job).rsplit("/", 1)[0]
        for line in connection.stream(f"{collection}?{query}"):
            if self._closed.is_set():
                return False
            event = json.loads(line)
            if event.get("type") == "ERROR":
                raise _Restart()
            if event.get("type") in ("ADDED", "MODIFIED") and stop_requested(event["object"]):
                return True
        return False
