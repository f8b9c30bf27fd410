"""Text for people: kubectl-style durations and tables, and TrainJob status fields in words."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

NONE = "-"
COLUMN_GAP = "   "


def human_duration(seconds: float) -> str:
    """A duration as kubectl prints ages: 45s, 3m20s, 25m, 5h12m, 30h, 3d4h, 20d, 2y30d."""
    if seconds < 0:
        return "0s"
    whole = int(seconds)
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if whole < 120:
        return f"{whole}s"
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    if days < 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def parse_time(timestamp: str | None) -> datetime.datetime | None:
    """An RFC 3339 time as the API writes it (`2024-05-01T12:00:00Z`), or None."""
    if not timestamp:
        return None
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def age(timestamp: str | None, now: datetime.datetime) -> str:
    """How long ago `timestamp` was, as kubectl's AGE column says it."""
    when = parse_time(timestamp)
    return NONE if when is None else human_duration((now - when).total_seconds())


def number(value: float | None) -> str:
    """A metric value in four significant digits."""
    return NONE if value is None else f"{value:.4g}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns, as `kubectl get` prints them."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        COLUMN_GAP.join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (headers, *rows)
    ]
    return "\n".join(line.rstrip() for line in lines)


#: How a script gets its progress into the status: said when a job has none to show.
REPORTING_HINT = (
    "to report it, train with trainjob.Trainer, Lightning or a Hugging Face Trainer (reported with no "
    "code change when the worker image has trainjob), or call trainjob.report(epoch=..., step=..., "
    "metrics=...) in your own loop"
)
#: Phases after which no progress will come any more.
FINAL_PHASES = ("Succeeded", "Failed")


def progress_text(status: Mapping[str, Any]) -> str:
    """Where training is: epoch, step, percent, loss, throughput, ETA (what is known of them).

    With nothing reported, says whether some may still come, and how a script reports.
    """
    progress = status.get("progress") or {}
    if not progress:
        if status.get("phase") in FINAL_PHASES:
            return f"none: the script reported no progress ({REPORTING_HINT})"
        if status.get("phase") == "Running":
            return f"none reported yet (a script that reports nothing shows none: {REPORTING_HINT})"
        return "no progress reported yet"
    parts = []
    if "epoch" in progress:
        total = progress.get("totalEpochs")
        parts.append(f"epoch {progress['epoch']}" + (f"/{total}" if total else ""))
    if "step" in progress:
        total = progress.get("totalSteps")
        parts.append(f"step {progress['step']}" + (f"/{total}" if total else ""))
    if progress.get("totalEpochs") or progress.get("totalSteps") or progress.get("percent"):
        parts.append(f"{float(progress.get('percent', 0.0)):.1f}%")
    loss = (status.get("metrics") or {}).get("loss")
    if loss is not None:
        parts.append(f"loss {number(loss)}")
    if progress.get("samplesPerSecond"):
        parts.append(f"{progress['samplesPerSecond']:.0f} samples/s")
    if progress.get("etaSeconds") is not None:
        parts.append(f"ETA {human_duration(progress['etaSeconds'])}")
    return ", ".join(parts)


def metric_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Every reported metric by name: `status.metrics.values`, and its loss, val_loss and lr fields."""
    values: dict[str, Any] = dict(metrics.get("values") or {})
    for field, name in (("loss", "loss"), ("valLoss", "val_loss"), ("lr", "lr")):
        if field in metrics:
            values.setdefault(name, metrics[field])
    return values


def metrics_text(metrics: Mapping[str, Any]) -> str:
    """Every reported metric, `name value`, by name."""
    return ", ".join(f"{name} {number(value)}" for name, value in sorted(metric_values(metrics).items()))
