"""The periodic resync of a standalone operator, from its own loop instead of kopf's timers.

A resync reconciles every TrainJob that needs it (`needs_resync`) once per interval: deadlines,
stuck workers and missed events are caught even when nothing changes. kopf's timers would do it,
but kopf puts a finalizer on every object that has one: a PATCH to add it, another to remove it,
and a TrainJob that nobody can delete once the operator is gone. A standalone operator (no
peering: nothing ever pauses it) runs this loop over the TrainJobs its watch holds instead. With
peering, kopf's timer stays: only kopf knows whether this replica is the active one.

Each TrainJob's clock starts when the loop first finds it due, so its first resync comes one
interval later (the reconcile that made it due has just run), and the resyncs of many TrainJobs
spread over the interval as their creations did. A resync still running is never started twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, str]
#: The TrainJobs to consider, as (namespace, name) and the TrainJob.
TrainJobSource = Callable[[], Iterable[tuple[Key, Mapping[str, Any]]]]
#: Whether a TrainJob needs resyncs (`handlers.needs_resync`).
ResyncPredicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
#: Reconciles one TrainJob (`Reconciler.reconcile`).
Reconcile = Callable[[str, str], Awaitable[None]]


class ResyncLoop:
    """Reconciles each due TrainJob once per `interval_s`, looking for due ones every `tick_s`."""

    def __init__(
        self,
        trainjobs: TrainJobSource,
        due: ResyncPredicate,
        reconcile: Reconcile,
        interval_s: float,
        *,
        tick_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trainjobs = trainjobs
        self._due = due
        self._reconcile = reconcile
        self.interval_s = interval_s
        self.tick_s = min(tick_s, interval_s)
        self._clock = clock
        #: When each due TrainJob's last resync started (or its clock started).
        self._last: dict[Key, float] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> ResyncLoop:
        """Start the loop, once, in the running event loop and the current context; returns self.

        The resyncs run in that context: start it from a kopf handler, where kopf's Event queue
        (which `kopf.event` needs) is set.
        """
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="trainjob-resync")
        return self

    async def stop(self) -> None:
        """Stop the loop and cancel the resyncs in flight."""
        tasks = [task for task in (self._loop, *self._running.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def tick(self) -> None:
        """Start the resync of every TrainJob whose interval has passed (one round of the loop)."""
        now = self._clock()
        due = {key for key, trainjob in self._trainjobs() if self._is_due(trainjob)}
        for key in self._last.keys() - due:
            del self._last[key]
        for key in due:
            started = self._last.setdefault(key, now)
            if now - started >= self.interval_s and key not in self._running:
                self._last[key] = now
                self._running[key] = asyncio.create_task(self._resync(key), name=f"resync {key[0]}/{key[1]}")

    async def _run(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(self.tick_s)

    def _is_due(self, trainjob: Mapping[str, Any]) -> bool:
        return self._due(trainjob.get("spec") or {}, trainjob.get("status") or {})

    async def _resync(self, key: Key) -> None:
        try:
            await self._reconcile(*key)
        except Exception:  # the next interval tries again, as kopf's timer would
            log.exception("resync of TrainJob %s/%s failed; retrying in %.0fs", *key, self.interval_s)
        finally:
            del self._running[key]
