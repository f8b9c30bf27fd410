"""A background status writer: coalesces, rate-limits, retries with backoff, never blocks training."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from trainjob_api.merge import merge

log = logging.getLogger(__name__)


class StatusSink(Protocol):
    """Where status fragments go (the TrainJob's status subresource, or a local file)."""

    def write(self, fragment: dict[str, Any]) -> None:
        """Apply `fragment` as a merge patch.

        Raise `PermanentWriteError` when this fragment can never be written, `RefusedWriteError`
        when the apiserver refused the writer itself; any other error is taken as transient.
        """
        ...


class PermanentWriteError(RuntimeError):
    """A write that will fail however often it is retried (for example: an invalid fragment)."""


class RefusedWriteError(RuntimeError):
    """A write refused for who asks or what is there (unauthorised, forbidden, not found).

    Wrong access, or an apiserver that has just restarted and not yet synced its caches: it is
    retried with backoff until a newer fragment replaces it, and said as an error, since it may
    never pass.
    """


@dataclass
class WritePlan:
    """What the writer should do next: write `fragment`, or wait `wait_s` (None: until woken)."""

    fragment: dict[str, Any] | None
    wait_s: float | None


class WriteSchedule:
    """The writer's decisions, kept apart from threads and clocks so they can be tested exactly.

    Fragments submitted between writes merge (latest wins); writes are at least
    `min_interval_s` apart; a failed write is merged back under newer fragments (a refused one
    is replaced by the next) and retried after an exponential backoff with jitter, capped at
    `max_backoff_s`.
    """

    def __init__(
        self,
        min_interval_s: float,
        base_backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.min_interval_s = min_interval_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._jitter = jitter
        self.pending: dict[str, Any] | None = None
        self._pending_refused = False
        self.failures = 0
        self._not_before = float("-inf")

    def submit(self, fragment: dict[str, Any]) -> None:
        """Queue a fragment; it merges into whatever is pending, or replaces a refused one."""
        if self.pending is None or self._pending_refused:
            self.pending = fragment
        else:
            self.pending = merge(self.pending, fragment)
        self._pending_refused = False

    def plan(self, now: float, urgent: bool = False) -> WritePlan:
        """The next action at time `now`; `urgent` (a final flush) skips the rate limit, not the backoff."""
        if self.pending is None:
            return WritePlan(None, None)
        ready_at = self._not_before if (self.failures or not urgent) else now
        if now < ready_at:
            return WritePlan(None, ready_at - now)
        fragment, self.pending, self._pending_refused = self.pending, None, False
        return WritePlan(fragment, None)

    def succeeded(self, now: float) -> None:
        """The last planned write went through."""
        self.failures = 0
        self._not_before = now + self.min_interval_s

    def failed(self, now: float, fragment: dict[str, Any]) -> float:
        """The last planned write failed and will be retried; returns the backoff chosen."""
        self.pending = fragment if self.pending is None else merge(fragment, self.pending)
        return self._back_off(now)

    def refused(self, now: float, fragment: dict[str, Any]) -> float:
        """The last planned write was refused (see `RefusedWriteError`); returns the backoff chosen.

        It is retried until a newer fragment comes: that one replaces it, unmerged, since the
        refusal may have been for something in it.
        """
        if self.pending is None:
            self.pending, self._pending_refused = fragment, True
        return self._back_off(now)

    def _back_off(self, now: float) -> float:
        self.failures += 1
        backoff = min(self.max_backoff_s, self.base_backoff_s * 2 ** (self.failures - 1))
        backoff *= 0.5 + self._jitter() / 2
        self._not_before = now + backoff
        return backoff

    def dropped(self, now: float) -> None:
        """The last planned write failed for good; its fragment is not retried."""
        self.failures = 0
        self._not_before = now + self.min_interval_s


class BackgroundWriter:
    """Runs a `WriteSchedule` against a sink in a daemon thread.

    `submit` only merges under a lock and wakes the thread: the training step never waits
    on the network. `flush` (the final write at exit) waits a bounded time. `last_word`, if
    given, gets everything submitted, merged, when the writer closes: before the final flush,
    so that it holds the final state even if that flush never lands.
    """

    def __init__(
        self,
        sink: StatusSink,
        min_interval_s: float,
        *,
        schedule: WriteSchedule | None = None,
        clock: Callable[[], float] = time.monotonic,
        last_word: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.sink = sink
        self.schedule = schedule or WriteSchedule(min_interval_s)
        self._clock = clock
        self._last_word = last_word
        self._submitted: dict[str, Any] = {}
        self._condition = threading.Condition()
        self._urgent = False
        self._closed = False
        self._writing = False
        self._errors_said: set[str] = set()
        self.writes = 0
        self._thread = threading.Thread(target=self._run, name="trainjob-status-writer", daemon=True)
        self._thread.start()

    def submit(self, fragment: dict[str, Any]) -> None:
        """Queue a status fragment; returns at once."""
        with self._condition:
            self.schedule.submit(fragment)
            if self._last_word is not None:
                self._submitted = merge(self._submitted, fragment)
            self._condition.notify()

    def flush(self, timeout_s: float) -> bool:
        """Write what is pending now, retrying until `timeout_s`; True when nothing is left."""
        deadline = self._clock() + timeout_s
        with self._condition:
            self._urgent = True
            self._condition.notify()
            while self.schedule.pending is not None or self._writing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            self._urgent = False
            return self.schedule.pending is None and not self._writing

    def close(self, timeout_s: float) -> bool:
        """Leave the last word, flush, stop the thread; True when all was written (else it is logged)."""
        left = self._leave_last_word()
        flushed = self.flush(timeout_s)
        with self._condition:
            self._closed = True
            self._condition.notify()
            if not flushed:
                log.log(
                    logging.WARNING if left else logging.ERROR,
                    "the last write did not land within %.0fs (%s, %d failed attempts in a row): %s",
                    timeout_s,
                    "a write still in flight" if self._writing else "a write waiting to be retried",
                    self.schedule.failures,
                    "the final status left beside it takes its place" if left else "it is lost",
                )
        self._thread.join(timeout=1.0)
        return flushed

    def _leave_last_word(self) -> bool:
        """Hand everything submitted to `last_word`; True when it took it."""
        if self._last_word is None or not self._submitted:
            return False
        try:
            self._last_word(self._submitted)
        except OSError as error:
            log.warning("could not leave the final status beside the last write: %s", error)
            return False
        return True

    def _run(self) -> None:
        while True:
            with self._condition:
                while True:
                    if self._closed:
                        return
                    plan = self.schedule.plan(self._clock(), urgent=self._urgent)
                    if plan.fragment is not None:
                        self._writing = True
                        break
                    self._condition.wait(plan.wait_s)
            self._write(plan.fragment)

    def _write(self, fragment: dict[str, Any]) -> None:
        try:
            self.sink.write(fragment)
        except PermanentWriteError as error:
            self._error_once(f"status write failed and will not be retried: {error}")
            with self._condition:
                self.schedule.dropped(self._clock())
        except RefusedWriteError as error:
            with self._condition:
                self.schedule.refused(self._clock(), fragment)
            self._error_once(
                f"status write refused ({error}); retrying with backoff, training goes on: a "
                "restarting apiserver answers so until its caches sync, else check the worker's Role"
            )
        except Exception as error:  # any transient fault: network, 409, 429, 5xx
            with self._condition:
                backoff = self.schedule.failed(self._clock(), fragment)
                streak = self.schedule.failures
            level = logging.WARNING if streak == 1 else logging.DEBUG
            log.log(level, "status write failed (%s); retrying in %.1fs, training goes on", error, backoff)
        else:
            with self._condition:
                if self.schedule.failures:
                    log.warning("status writes recovered after %d failed attempts", self.schedule.failures)
                self.schedule.succeeded(self._clock())
                self.writes += 1
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()

    def _error_once(self, message: str) -> None:
        """Log `message` as an error the first time only: a failing write repeats."""
        if message not in self._errors_said:
            self._errors_said.add(message)
            log.error("%s", message)
