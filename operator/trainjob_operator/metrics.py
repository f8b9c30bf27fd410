"""Prometheus metrics of the operator, in the text exposition format, served with aiohttp.

Written by hand to avoid a dependency: counters of reconciles and errors, a histogram of
reconcile durations, transitions by phase and reason, TrainJobs by phase, and each running
TrainJob's progress and latest metrics (see `job_metrics`).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web

from trainjob_operator import job_metrics

PREFIX = "trainjob_operator"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(**labels: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for value in labels.values()
    )
    return "{" + ",".join(f'{key}="{value}"' for key, value in zip(labels, escaped, strict=True)) + "}"


class Metrics:
    """The operator's metrics (one instance per process, updated from the event loop)."""

    def __init__(self) -> None:
        self.reconciles = 0
        self.errors: Counter[str] = Counter()
        self._bucket_counts = [0] * len(DURATION_BUCKETS)
        self._duration_sum = 0.0
        self.transitions: Counter[tuple[str, str]] = Counter()
        self._phases: dict[tuple[str, str], str] = {}
        #: Every TrainJob the operator's watch holds, for the per-job gauges (None: no such gauges).
        self.trainjobs: Callable[[], Iterable[tuple[tuple[str, str], Mapping[str, Any]]]] | None = None

    def record_reconcile(self, seconds: float, error: str | None = None) -> None:
        """Count one reconcile that took `seconds`; `error` names the exception type if it failed."""
        self.reconciles += 1
        if error is not None:
            self.errors[error] += 1
        self._duration_sum += seconds
        for index in range(bisect.bisect_left(DURATION_BUCKETS, seconds), len(DURATION_BUCKETS)):
            self._bucket_counts[index] += 1

    def record_transition(self, phase: str, reason: str) -> None:
        """Count a TrainJob transition (one per Event the operator posts)."""
        self.transitions[(phase, reason)] += 1

    def phase_of(self, namespace: str, name: str) -> str | None:
        """The phase tracked for a TrainJob, or None."""
        return self._phases.get((namespace, name))

    def set_phase(self, namespace: str, name: str, phase: str | None) -> None:
        """Track a TrainJob's phase; None forgets a deleted TrainJob."""
        if phase is None:
            self._phases.pop((namespace, name), None)
        else:
            self._phases[(namespace, name)] = phase

    def render(self) -> str:
        """The text exposition of every metric."""
        return "".join(f"{line}\n" for line in self._lines())

    def _lines(self) -> Iterator[str]:
        yield from _header("reconciles_total", "counter", "Reconciles of TrainJobs.")
        yield f"{PREFIX}_reconciles_total {self.reconciles}"
        yield from _header("reconcile_errors_total", "counter", "Reconciles that failed, by exception type.")
        for error, count in sorted(self.errors.items()):
            yield f"{PREFIX}_reconcile_errors_total{_labels(error=error)} {count}"
        yield from _header("reconcile_duration_seconds", "histogram", "How long reconciles take.")
        name = f"{PREFIX}_reconcile_duration_seconds"
        for bound, count in zip(DURATION_BUCKETS, self._bucket_counts, strict=True):
            yield f"{name}_bucket{_labels(le=repr(bound))} {count}"
        yield f"{name}_bucket{_labels(le='+Inf')} {self.reconciles}"
        yield f"{name}_sum {self._duration_sum}"
        yield f"{name}_count {self.reconciles}"
        yield from _header("transitions_total", "counter", "TrainJob transitions, by phase and reason.")
        for (phase, reason), count in sorted(self.transitions.items()):
            yield f"{PREFIX}_transitions_total{_labels(phase=phase, reason=reason)} {count}"
        yield from _header("trainjobs", "gauge", "TrainJobs by phase.")
        for phase, count in sorted(Counter(self._phases.values()).items()):
            yield f"{PREFIX}_trainjobs{_labels(phase=phase)} {count}"
        if self.trainjobs is not None:
            yield from _job_lines(job_metrics.live(self.trainjobs()))


def _job_lines(jobs: list[tuple[str, str, Mapping[str, Any]]]) -> Iterator[str]:
    """The per-job gauges, each with its header once (only gauges that have a sample)."""
    announced: set[str] = set()
    for gauge, help_text, labels, value in job_metrics.samples(jobs):
        name = f"job_{gauge}"
        if name not in announced:
            announced.add(name)
            yield from _header(name, "gauge", help_text)
        yield f"{PREFIX}_{name}{_labels(**labels)} {value!r}"


def _header(name: str, kind: str, help_text: str) -> Iterator[str]:
    yield f"# HELP {PREFIX}_{name} {help_text}"
    yield f"# TYPE {PREFIX}_{name} {kind}"


async def serve_metrics(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve `/metrics` on host:port until the returned runner is cleaned up."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
