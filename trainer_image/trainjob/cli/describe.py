"""`trainjob status`'s readable view of a TrainJob: what it is doing, how far it is, and what went wrong."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from trainjob.cli.render import (
    NONE,
    age,
    human_duration,
    metrics_text,
    number,
    parse_time,
    progress_text,
    table,
)
from trainjob.client.trainjobs import phase_of
from trainjob_api.names import STOP_ANNOTATION, stop_requested

LABEL_WIDTH = 16


def describe(trainjob: Mapping[str, Any], now: datetime.datetime, loss_curve: str | None = None) -> str:
    """The TrainJob's status as labelled lines (with `loss_curve`, a sparkline), then its conditions."""
    metadata, spec = trainjob.get("metadata") or {}, trainjob.get("spec") or {}
    status: dict[str, Any] = trainjob.get("status") or {}
    fields: list[tuple[str, str | None]] = [
        ("Name", metadata.get("name")),
        ("Namespace", metadata.get("namespace")),
        ("Phase", phase_of(trainjob)),
        ("Workers", _workers(spec, status)),
        ("Started", _when(status.get("startTime"), now)),
        ("Finished", _finished(status, now)),
        ("Restarts", _restarts(spec, status)),
        ("Progress", _progress(status, now)),
        ("Metrics", metrics_text(status.get("metrics") or {}) or None),
        ("Loss curve", loss_curve),
        ("Best", _best(status.get("metrics") or {})),
        ("Early stopping", _early_stopping(status.get("earlyStopping") or {})),
        ("Checkpoint", _checkpoint(status.get("checkpoint") or {})),
        ("Stop", _stop(trainjob, status)),
        ("Failure", _failure(status.get("failure") or {})),
    ]
    lines = [f"{label + ':':<{LABEL_WIDTH}}{value}" for label, value in fields if value]
    conditions = status.get("conditions") or []
    if conditions:
        rows = [
            [
                c.get("type", NONE),
                c.get("status", NONE),
                c.get("reason") or NONE,
                age(c.get("lastTransitionTime"), now),
                c.get("message") or "",
            ]
            for c in conditions
        ]
        lines.append("Conditions:")
        lines += [
            f"  {line}" for line in table(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"], rows).splitlines()
        ]
    return "\n".join(lines)


def _workers(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    nodes, nproc = spec.get("numNodes", 1), spec.get("numProcPerNode", 1)
    text = f"{nodes} node(s) x {nproc} process(es)"
    counts = status.get("workers")
    if counts:
        text += ": " + ", ".join(f"{counts.get(key, 0)} {key}" for key in ("active", "succeeded", "failed"))
    return text


def _when(timestamp: str | None, now: datetime.datetime) -> str | None:
    return f"{timestamp} ({age(timestamp, now)} ago)" if timestamp else None


def _finished(status: Mapping[str, Any], now: datetime.datetime) -> str | None:
    text = _when(status.get("completionTime"), now)
    start, end = parse_time(status.get("startTime")), parse_time(status.get("completionTime"))
    if text and start and end:
        text += f", ran {human_duration((end - start).total_seconds())}"
    return text


def _restarts(spec: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    limit = (spec.get("runPolicy") or {}).get("backoffLimit")
    restarts = status.get("restarts", 0)
    return f"{restarts} (backoffLimit {limit})" if limit is not None else str(restarts)


def _progress(status: Mapping[str, Any], now: datetime.datetime) -> str:
    text = progress_text(status)
    updated = (status.get("progress") or {}).get("lastUpdateTime")
    return f"{text} (updated {age(updated, now)} ago)" if updated else text


def _best(metrics: Mapping[str, Any]) -> str | None:
    if metrics.get("best") is None:
        return None
    epoch = f" at epoch {metrics['bestEpoch']}" if metrics.get("bestEpoch") is not None else ""
    return f"{metrics.get('monitor', 'monitored metric')} {number(metrics['best'])}{epoch}"


def _early_stopping(early: Mapping[str, Any]) -> str | None:
    if not early:
        return None
    if early.get("triggered"):
        why = early.get("message") or early.get("reason") or ""
        return f"stopped at epoch {early.get('epoch', NONE)}: {why}".rstrip(": ")
    patience = (
        f"{early.get('wait', 0)}/{early['patience']}" if "patience" in early else str(early.get("wait", 0))
    )
    return f"not triggered (epochs without improvement {patience})"


def _checkpoint(checkpoint: Mapping[str, Any]) -> str | None:
    if not checkpoint.get("path"):
        return None
    epoch = f" (epoch {checkpoint['epoch']})" if checkpoint.get("epoch") is not None else ""
    return f"{checkpoint['path']}{epoch}"


def _stop(trainjob: Mapping[str, Any], status: Mapping[str, Any]) -> str | None:
    if status.get("stoppedOnRequest"):
        return "stopped on request"
    if stop_requested(trainjob):
        return f"requested ({STOP_ANNOTATION}); the workers stop at the next step and checkpoint"
    return None


def _failure(failure: Mapping[str, Any]) -> str | None:
    if not failure:
        return None
    where = f"worker {failure.get('worker', NONE)}"
    if failure.get("pod"):
        where += f" (pod {failure['pod']})"
    parts = [where]
    if failure.get("exitCode") is not None:
        parts.append(f"exit code {failure['exitCode']}")
    if failure.get("reason"):
        parts.append(failure["reason"])
    text = ", ".join(parts)
    return f"{text}: {failure['message']}" if failure.get("message") else text
