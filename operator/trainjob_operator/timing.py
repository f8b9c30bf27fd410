"""Kubernetes timestamps and the run policy's clocks: the active and progress deadlines, the TTL."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any


def timestamp(moment: datetime.datetime) -> str:
    """A time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime:
    """A Kubernetes timestamp as an aware datetime."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _elapsed(since: str, now: datetime.datetime) -> float:
    return (now - parse_time(since)).total_seconds()


def deadline_passed(run_policy: Mapping[str, Any], start_time: str | None, now: datetime.datetime) -> bool:
    """Whether `activeDeadlineSeconds` has passed since the workers started."""
    deadline = run_policy.get("activeDeadlineSeconds")
    return bool(deadline and start_time and _elapsed(start_time, now) >= deadline)


def remaining_deadline(
    run_policy: Mapping[str, Any], start_time: str | None, now: datetime.datetime
) -> int | None:
    """What is left of activeDeadlineSeconds for a new Job (at least 1 s), or None without a deadline."""
    deadline = run_policy.get("activeDeadlineSeconds")
    if not deadline:
        return None
    if not start_time:
        return int(deadline)
    return max(1, int(deadline - _elapsed(start_time, now)))


def progress_overdue(
    run_policy: Mapping[str, Any], since: Sequence[str | None], now: datetime.datetime
) -> float | None:
    """Seconds without progress, once they reach `progressDeadlineSeconds`; else None.

    `since` are the moments that count as progress (the latest one wins; None ones are ignored).
    """
    deadline = run_policy.get("progressDeadlineSeconds")
    moments = [parse_time(moment) for moment in since if moment]
    if not deadline or not moments:
        return None
    idle = (now - max(moments)).total_seconds()
    return idle if idle >= deadline else None


def ttl_expired(run_policy: Mapping[str, Any], completion_time: str | None, now: datetime.datetime) -> bool:
    """Whether `ttlSecondsAfterFinished` has passed since the job finished."""
    ttl = run_policy.get("ttlSecondsAfterFinished")
    return ttl is not None and completion_time is not None and _elapsed(completion_time, now) >= ttl
