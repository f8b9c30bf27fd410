"""Per-TrainJob gauges: progress and the latest reported metrics of every running TrainJob.

Computed when Prometheus scrapes, from the TrainJobs the operator's watch already holds: a status
write costs nothing more, and a job's series are gone from the next scrape once it is no longer
running (finished, suspended or deleted). Label sets are bounded: `namespace` and `name` per job,
and for `trainjob_operator_job_metric` at most `MAX_METRICS` metric names per job.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from trainjob_api.enums import Phase

#: The phases whose TrainJobs have gauges.
LIVE_PHASES = frozenset({Phase.RUNNING.value, Phase.RESTARTING.value})
#: The most `metrics.values` entries exported per TrainJob (the first, by name).
MAX_METRICS = 16

#: Gauge name (after the `trainjob_operator_job_` prefix), help, and where in the status it is.
GAUGES: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("progress_percent", "Training progress of a running TrainJob, in percent.", ("progress", "percent")),
    ("epoch", "The epoch a running TrainJob is in (1-based).", ("progress", "epoch")),
    ("total_epochs", "The epochs a running TrainJob trains for.", ("progress", "totalEpochs")),
    ("step", "Optimizer steps a running TrainJob has taken.", ("progress", "step")),
    ("eta_seconds", "Estimated seconds until a running TrainJob finishes.", ("progress", "etaSeconds")),
    ("samples_per_second", "Training throughput of a running TrainJob.", ("progress", "samplesPerSecond")),
    ("loss", "The latest training loss a running TrainJob reported.", ("metrics", "loss")),
    ("val_loss", "The latest validation loss a running TrainJob reported.", ("metrics", "valLoss")),
    ("learning_rate", "The latest learning rate a running TrainJob reported.", ("metrics", "lr")),
    ("best", "The best value of the monitored metric so far.", ("metrics", "best")),
)
METRIC_GAUGE = ("metric", "Every numeric value a running TrainJob reported last, by metric name.")


def live(
    trainjobs: Iterable[tuple[tuple[str, str], Mapping[str, Any]]],
) -> list[tuple[str, str, Mapping[str, Any]]]:
    """(namespace, name, status) of the running TrainJobs, sorted."""
    found = []
    for (namespace, name), body in trainjobs:
        status = body.get("status") or {}
        if status.get("phase") in LIVE_PHASES:
            found.append((namespace, name, status))
    return sorted(found, key=lambda entry: entry[:2])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def samples(
    jobs: list[tuple[str, str, Mapping[str, Any]]],
) -> Iterator[tuple[str, str, dict[str, str], float]]:
    """(gauge, help, labels, value) of every job's gauges, gauge by gauge."""
    for gauge, help_text, (section, field) in GAUGES:
        for namespace, name, status in jobs:
            value = _number((status.get(section) or {}).get(field))
            if value is not None:
                yield gauge, help_text, {"namespace": namespace, "name": name}, value
    gauge, help_text = METRIC_GAUGE
    for namespace, name, status in jobs:
        values = (status.get("metrics") or {}).get("values") or {}
        for metric in sorted(values)[:MAX_METRICS]:
            value = _number(values[metric])
            if value is not None:
                yield gauge, help_text, {"namespace": namespace, "name": name, "metric": str(metric)}, value
