"""The list's rows: what the page shows of each TrainJob, and its loss trail for the sparkline (pure)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from trainjob.client.trainjobs import TrainJob, is_finished, phase_of
from trainjob.plotting.curves import curves, metric_names
from trainjob_api.names import stop_requested

#: How many loss values a row's sparkline keeps (the latest).
TRAIL_LENGTH = 60

Row = dict[str, Any]


def job_key(namespace: str, name: str) -> str:
    """`namespace/name`: a TrainJob's key on the page."""
    return f"{namespace}/{name}"


def key_of(trainjob: Mapping[str, Any]) -> str:
    """The page's key of a TrainJob object."""
    metadata = trainjob.get("metadata") or {}
    return job_key(metadata.get("namespace", ""), metadata.get("name", ""))


def row(trainjob: TrainJob, losses: list[float]) -> Row:
    """The list's row of a TrainJob: phase (finished or not), progress, latest loss, ETA, restarts, age."""
    metadata, spec = trainjob.get("metadata") or {}, trainjob.get("spec") or {}
    status = trainjob.get("status") or {}
    progress, metrics = status.get("progress") or {}, status.get("metrics") or {}
    return {
        "key": key_of(trainjob),
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "created": metadata.get("creationTimestamp"),
        "phase": phase_of(trainjob),
        "finished": is_finished(trainjob),
        "nodes": spec.get("numNodes", 1),
        "epoch": progress.get("epoch"),
        "totalEpochs": progress.get("totalEpochs") or spec.get("maxEpochs"),
        "step": progress.get("step"),
        "percent": _finite(progress.get("percent")),
        "etaSeconds": _finite(progress.get("etaSeconds")),
        "loss": _finite(metrics.get("loss")),
        "restarts": status.get("restarts", 0),
        "stopRequested": stop_requested(trainjob),
        "stoppedOnRequest": bool(status.get("stoppedOnRequest")),
        "losses": losses,
    }


def _finite(value: Any) -> float | None:
    """A number the page can show (JSON has no NaN or infinity), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


class LossTrail:
    """A TrainJob's latest loss values, one per epoch (or step): from its history, then its status."""

    def __init__(self) -> None:
        self._points: dict[float, float] = {}

    def seed(self, history: Mapping[str, Any]) -> None:
        """Start from the loss curve of a history document."""
        if "loss" not in metric_names(history):
            return
        (curve,) = curves(history, ["loss"])
        for x, y in zip(curve.xs, curve.ys, strict=True):
            self._add(x, y)

    def record(self, trainjob: TrainJob) -> None:
        """Add the loss the status reports now, at its epoch (else step)."""
        status = trainjob.get("status") or {}
        progress = status.get("progress") or {}
        loss = _finite((status.get("metrics") or {}).get("loss"))
        x = progress.get("epoch", progress.get("step"))
        if loss is not None and isinstance(x, (int, float)):
            self._add(float(x), loss)

    def values(self) -> list[float]:
        """The loss values, oldest first, a repeated value once.

        A status reports the last finished epoch's loss while the next epoch runs (under that
        epoch's number): the same value at two epochs is one loss, not a plateau.
        """
        ordered = [self._points[x] for x in sorted(self._points)]
        return [value for i, value in enumerate(ordered) if i == 0 or value != ordered[i - 1]]

    def _add(self, x: float, y: float) -> None:
        if _finite(y) is None:
            return
        self._points[float(x)] = float(y)
        while len(self._points) > TRAIL_LENGTH:
            del self._points[min(self._points)]
