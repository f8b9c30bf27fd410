"""The standalone operator's resync loop: which TrainJobs, how often, failures and overlaps."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from trainjob_operator.handlers import needs_resync
from trainjob_operator.resync import ResyncLoop

INTERVAL = 10.0


def trainjob(phase: str | None, *, reconciled: bool = True, ttl: int | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 1} if reconciled else {}
    if phase:
        status["phase"] = phase
    return {"spec": {"runPolicy": {"ttlSecondsAfterFinished": ttl}}, "status": status}


class Harness:
    """A loop over a dict of TrainJobs with a hand-moved clock, recording the reconciles."""

    def __init__(self, trainjobs: dict[tuple[str, str], dict[str, Any]]) -> None:
        self.trainjobs = trainjobs
        self.now = 0.0
        self.reconciled: list[tuple[str, str]] = []
        self.fail: set[str] = set()
        self.hold = asyncio.Event()
        self.hold.set()
        self.loop = ResyncLoop(
            lambda: self.trainjobs.items(), needs_resync, self.reconcile, INTERVAL, clock=lambda: self.now
        )

    async def reconcile(self, namespace: str, name: str) -> None:
        self.reconciled.append((namespace, name))
        await self.hold.wait()
        if name in self.fail:
            raise RuntimeError(f"{name} cannot be reconciled")

    async def at(self, now: float) -> list[tuple[str, str]]:
        """Move the clock to `now`, tick, let the resyncs run; the reconciles of this tick."""
        self.now = now
        before = len(self.reconciled)
        self.loop.tick()
        for _ in range(3):
            await asyncio.sleep(0)
        return sorted(self.reconciled[before:])


@pytest.mark.asyncio
async def test_due_trainjobs_are_resynced_once_per_interval_after_a_first_interval() -> None:
    harness = Harness(
        {
            ("ns", "running"): trainjob("Running"),
            ("ns", "created"): trainjob("Created"),
            ("ns", "finished-with-ttl"): trainjob("Succeeded", ttl=60),
            ("ns", "finished"): trainjob("Failed"),
            ("ns", "not-reconciled-yet"): trainjob(None, reconciled=False),
        }
    )
    due = [("ns", "created"), ("ns", "finished-with-ttl"), ("ns", "running")]
    assert await harness.at(0.0) == []  # their clocks start: the first reconcile has just run
    assert await harness.at(INTERVAL - 1) == []
    assert await harness.at(INTERVAL) == due
    assert await harness.at(INTERVAL + 1) == []
    assert await harness.at(2 * INTERVAL) == due


@pytest.mark.asyncio
async def test_a_trainjob_that_becomes_due_waits_one_interval_from_then() -> None:
    harness = Harness({("ns", "a"): trainjob("Running")})
    await harness.at(0.0)
    harness.trainjobs[("ns", "b")] = trainjob("Created")
    assert await harness.at(4.0) == []
    assert await harness.at(INTERVAL) == [("ns", "a")]
    assert await harness.at(4.0 + INTERVAL) == [("ns", "b")]
    del harness.trainjobs[("ns", "a")]  # deleted: no more resyncs
    harness.trainjobs[("ns", "b")] = trainjob("Failed")  # finished: no more resyncs
    assert await harness.at(10 * INTERVAL) == []


@pytest.mark.asyncio
async def test_a_failed_resync_is_logged_and_tried_again_next_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness({("ns", "broken"): trainjob("Running")})
    harness.fail.add("broken")
    await harness.at(0.0)
    with caplog.at_level(logging.ERROR, logger="trainjob_operator.resync"):
        assert await harness.at(INTERVAL) == [("ns", "broken")]
    assert "resync of TrainJob ns/broken failed" in caplog.text
    assert "cannot be reconciled" in caplog.text
    harness.fail.clear()
    assert await harness.at(2 * INTERVAL) == [("ns", "broken")]


@pytest.mark.asyncio
async def test_a_resync_still_running_is_not_started_again_and_stop_cancels_it() -> None:
    harness = Harness({("ns", "slow"): trainjob("Running")})
    harness.hold.clear()  # every reconcile hangs
    await harness.at(0.0)
    assert await harness.at(INTERVAL) == [("ns", "slow")]
    assert await harness.at(2 * INTERVAL) == []
    (running,) = harness.loop._running.values()
    await harness.loop.stop()
    assert running.cancelled()


@pytest.mark.asyncio
async def test_the_started_loop_ticks_by_itself() -> None:
    reconciled = asyncio.Event()

    async def reconcile(namespace: str, name: str) -> None:
        reconciled.set()

    trainjobs = {("ns", "a"): trainjob("Running")}
    loop = ResyncLoop(lambda: trainjobs.items(), needs_resync, reconcile, 0.05, tick_s=0.01).start()
    task = loop._loop
    assert loop.start() is loop and loop._loop is task, "started once, by the first handler"
    try:
        await asyncio.wait_for(reconciled.wait(), timeout=5)
    finally:
        await loop.stop()
