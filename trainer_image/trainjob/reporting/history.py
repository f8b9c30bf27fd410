"""The bounded history of what a reporter reported: one series per metric, and the run's markers.

Epoch-level values (train and validation metrics, learning rate) are kept one point per epoch,
step-level values one point per reported step; either way a series is downsampled so that it
never holds more than `MAX_POINTS` points, whatever the run's length, and keeps its shape:

- the x axis (epoch or step) is cut into buckets of `width` (a power of two) so that the series
  spans at most `BUCKETS` of them; each bucket keeps its lowest and its highest point, and the
  series always keeps its first and its last point. When the series outgrows `BUCKETS` buckets
  the width doubles and neighbouring buckets merge, keeping the extremes of the two: so the
  series' minimum and maximum survive every compaction, and the points stay evenly spread;
- a value at an x at or before the series' last x (a restarted attempt that resumed from an
  earlier checkpoint) supersedes what was recorded from that x on, as TensorBoard purges the
  events of an abandoned timeline: the history is one continuous curve, and the restart is
  marked where the new attempt took over.

Values are kept to 6 significant digits (rounding keeps their order, so min and max stay the
min and max). With at most `MAX_SERIES` series, `MAX_NAME_LENGTH`-character names and
`MAX_ATTEMPTS` restart markers, the serialized document is at most `MAX_BYTES` bytes.
Nothing here does I/O: sinks write `History.to_dict()`, `History.from_dict` reads it back.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: A series spans at most this many buckets.
BUCKETS = 64
#: The most points one series holds: two per bucket, plus the first and the last point.
MAX_POINTS = 2 * BUCKETS + 2
#: The most series a history keeps (epoch- and step-level together); more are left out, said once.
MAX_SERIES = 64
#: Metric names longer than this are left out, said once.
MAX_NAME_LENGTH = 100
#: The most attempts (the first run and its restarts) a history marks; the oldest restarts go first.
MAX_ATTEMPTS = 100
#: Significant digits kept of every value.
DIGITS = 6
#: The largest x (epoch or step) the history keeps; larger ones are left out.
MAX_X = 10**15 - 1
#: The most bytes of one point in the serialized document: "[x,y]," with x < 10**15 and y to 6
#: significant digits ("-1.23457e-305").
POINT_BYTES = len("[999999999999999,-1.23457e-305],")
#: Bytes per series besides its points (quoted name, keys, brackets), per attempt marker, and
#: for the rest of the document (version, early stop, best value, time stamps, keys).
SERIES_OVERHEAD_BYTES = MAX_NAME_LENGTH + 40
ATTEMPT_BYTES = 120
DOCUMENT_OVERHEAD_BYTES = 2 * MAX_NAME_LENGTH + 600
#: The bound on the serialized size of any history, in bytes (about 290 KiB; a ConfigMap holds 1 MiB).
MAX_BYTES = (
    MAX_SERIES * (SERIES_OVERHEAD_BYTES + MAX_POINTS * POINT_BYTES)
    + MAX_ATTEMPTS * ATTEMPT_BYTES
    + DOCUMENT_OVERHEAD_BYTES
)

EPOCHS, STEPS = "epochs", "steps"


def round_value(value: float) -> float:
    """`value` to `DIGITS` significant digits (monotonic: it keeps the order of values)."""
    return float(f"{value:.{DIGITS}g}")


@dataclass
class Series:
    """One metric's downsampled points (x, y), x strictly increasing."""

    points: list[tuple[int, float]] = field(default_factory=list)
    width: int = 1
    #: The points from this index on (never the first point) lie in the last bucket.
    _tail_start: int = field(default=1, init=False, repr=False)

    def __post_init__(self) -> None:
        self._compact()

    def add(self, x: int, y: float) -> None:
        """Record value `y` at `x`; an x at or before the last one supersedes the points from it on."""
        point = (x, round_value(y))
        points = self.points
        if points and x <= points[-1][0]:
            self.points = [kept for kept in points if kept[0] < x]
            self.width = 1
            self._compact()
            points = self.points
        if not points:
            points.append(point)
            self._tail_start = 1
            return
        width = self.width
        if x // width != points[-1][0] // width:
            self._trim_tail()
            self._tail_start = len(points)
        points.append(point)
        start = self._tail_start
        if len(points) - start > 3:  # the bucket's three earlier points: drop the middle one
            order = sorted(range(start, start + 3), key=lambda index: points[index][1])
            del points[order[1]]
        if x // width - points[0][0] // width >= BUCKETS:
            self._compact()

    def _trim_tail(self) -> None:
        """Keep, of the last bucket's points, its lowest and its highest."""
        tail = self.points[self._tail_start :]
        if len(tail) > 2:
            keep = {_lowest(tail), _highest(tail)}
            self.points[self._tail_start :] = [point for point in tail if point in keep]

    def _compact(self) -> None:
        """Double the width until the series spans at most `BUCKETS` buckets; keep each bucket's extremes."""
        points = self.points
        if not points:
            return
        while points[-1][0] // self.width - points[0][0] // self.width >= BUCKETS:
            self.width *= 2
        width = self.width
        buckets: dict[int, list[tuple[int, float]]] = {}
        for point in points[1:-1]:
            buckets.setdefault(point[0] // width, []).append(point)
        keep = {points[0], points[-1]}
        for members in buckets.values():
            keep.update((_lowest(members), _highest(members)))
        self.points = [point for point in points if point in keep]
        start = len(self.points) - 1
        while start > 1 and self.points[start - 1][0] // width == self.points[-1][0] // width:
            start -= 1
        self._tail_start = max(start, 1)


def _lowest(points: list[tuple[int, float]]) -> tuple[int, float]:
    return min(points, key=lambda point: point[1])


def _highest(points: list[tuple[int, float]]) -> tuple[int, float]:
    return max(points, key=lambda point: point[1])


@dataclass(frozen=True)
class Attempt:
    """Where an attempt (0: the first run, n: after n group restarts) began reporting."""

    attempt: int
    epoch: int
    step: int
    time: str


class History:
    """What a reporter reported, bounded: epoch- and step-level series and the run's markers.

    Feed it the status fragments the reporter sends (`ingest`); a restarted attempt starts from
    the stored history (`from_dict`) and calls `begin_attempt` before its first fragment.
    """

    def __init__(self) -> None:
        self.series: dict[str, dict[str, Series]] = {EPOCHS: {}, STEPS: {}}
        self.attempts: list[Attempt] = []
        self.early_stop: dict[str, Any] | None = None
        self.best: dict[str, Any] | None = None
        self.updated: str | None = None
        self._said: set[str] = set()
        self._pending_attempt: int | None = None

    def begin_attempt(self, number: int | None = None) -> int:
        """Start attempt `number` (default: one after the last); it is marked at the next fragment."""
        previous = self.attempts[-1].attempt if self.attempts else -1
        self._pending_attempt = number if number is not None and number > previous else previous + 1
        return self._pending_attempt

    def ingest(self, fragment: Mapping[str, Any], *, epoch_end: bool) -> None:
        """Record a status fragment (as `build_status` makes it).

        At an epoch's end every numeric value of `metrics.values` becomes that epoch's point;
        otherwise each becomes a point at the fragment's step. Early stop and the best value
        are kept as the fragment says them.
        """
        progress = fragment.get("progress") or {}
        metrics = fragment.get("metrics") or {}
        epoch, step = int(progress.get("epoch", 0)), int(progress.get("step", 0))
        if progress.get("lastUpdateTime"):
            self.updated = str(progress["lastUpdateTime"])
        if self._pending_attempt is not None:
            self._mark_attempt(Attempt(self._pending_attempt, epoch, step, self.updated or ""))
        values = metrics.get("values") or {}
        kind, x = (EPOCHS, epoch) if epoch_end else (STEPS, step)
        for name, value in values.items():
            self.record(kind, str(name), x, value)
        if metrics.get("monitor") and metrics.get("best") is not None:
            self.best = {
                "metric": metrics["monitor"],
                "value": metrics["best"],
                "epoch": metrics.get("bestEpoch"),
            }
        early = fragment.get("earlyStopping") or {}
        if early.get("triggered"):
            self.early_stop = {"epoch": early.get("epoch"), "reason": early.get("reason")}

    def record(self, kind: str, name: str, x: int, value: Any) -> None:
        """Add one value of metric `name` at `x` (an epoch or a step); non-numbers are left out."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        if not 0 <= x <= MAX_X:
            return
        series = self.series[kind].get(name)
        if series is None:
            if len(name) > MAX_NAME_LENGTH:
                self._say_once(
                    f"metric name longer than {MAX_NAME_LENGTH} characters left out of the history"
                )
                return
            if self.series_count() >= MAX_SERIES:
                self._say_once(
                    f"more than {MAX_SERIES} metrics: {name!r} and later ones are left out of the history"
                )
                return
            series = self.series[kind][name] = Series()
        series.add(x, float(value))

    def series_count(self) -> int:
        """How many series the history holds."""
        return sum(len(kind) for kind in self.series.values())

    def _mark_attempt(self, attempt: Attempt) -> None:
        self._pending_attempt = None
        self.attempts.append(attempt)
        if len(self.attempts) > MAX_ATTEMPTS:
            del self.attempts[1]

    def _say_once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            log.warning("%s", message)

    def to_dict(self) -> dict[str, Any]:
        """The history as a JSON-ready document (see `to_json`)."""
        document: dict[str, Any] = {"version": FORMAT_VERSION}
        for kind, series in self.series.items():
            document[kind] = {
                name: {"width": one.width, "points": [[x, y] for x, y in one.points]}
                for name, one in sorted(series.items())
            }
        document["attempts"] = [
            {"attempt": a.attempt, "epoch": a.epoch, "step": a.step, "time": a.time} for a in self.attempts
        ]
        if self.early_stop is not None:
            document["earlyStop"] = self.early_stop
        if self.best is not None:
            document["best"] = self.best
        if self.updated is not None:
            document["updated"] = self.updated
        return document

    def to_json(self) -> str:
        """The document as compact JSON (at most `MAX_BYTES` bytes)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> History:
        """The history a document holds; raises ValueError for a document of another format."""
        if document.get("version") != FORMAT_VERSION:
            raise ValueError(f"history format {document.get('version')!r} is not {FORMAT_VERSION}")
        history = cls()
        for kind in (EPOCHS, STEPS):
            for name, stored in (document.get(kind) or {}).items():
                points = [(int(x), float(y)) for x, y in stored.get("points", ())]
                history.series[kind][name] = Series(points, int(stored.get("width", 1)))
        history.attempts = [
            Attempt(int(a["attempt"]), int(a["epoch"]), int(a["step"]), str(a.get("time", "")))
            for a in document.get("attempts", ())
        ]
        history.early_stop = document.get("earlyStop")
        history.best = document.get("best")
        history.updated = document.get("updated")
        return history

    @classmethod
    def from_json(cls, text: str) -> History:
        """The history in a JSON document; an empty text is an empty history."""
        return cls.from_dict(json.loads(text)) if text.strip() else cls()
