"""What a history document shows: its curves, the run's marks, a table and a sparkline (pure).

A document is what `trainjob.reporting.history.History.to_dict` makes: epoch-level series if the
run reported any (one point per epoch), else step-level ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainjob.reporting.history import EPOCHS, STEPS

#: What `plot` draws when no `--metric` is given, of what the history has.
DEFAULT_METRICS = ("loss", "val_loss")
SPARKS = "▁▂▃▄▅▆▇█"
#: Metric names for which higher is better (accuracy-like); for any other metric, lower is.
HIGHER_IS_BETTER = re.compile(r"acc|f1|precision|recall|auc|score", re.IGNORECASE)


@dataclass(frozen=True)
class Curve:
    """One metric of one run: its points, in x order."""

    label: str
    metric: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class Marks:
    """The run's marks: each restart (x, attempt), the early stop's x, the best value (x, y, metric)."""

    restarts: tuple[tuple[int, int], ...]
    early_stop: int | None
    best: tuple[int, float, str] | None


def axis(document: Mapping[str, Any]) -> str:
    """Which series the document is drawn from: `epochs` when it has any, else `steps`."""
    return EPOCHS if document.get(EPOCHS) else STEPS


def metric_names(document: Mapping[str, Any]) -> list[str]:
    """The metrics of the document's series, sorted."""
    return sorted(document.get(axis(document)) or {})


def chosen_metrics(document: Mapping[str, Any], wanted: Sequence[str] | None) -> list[str]:
    """The metrics to draw: `wanted` (an unknown one is a ValueError), else loss and val_loss, else all."""
    names = metric_names(document)
    if wanted:
        unknown = [name for name in wanted if name not in names]
        if unknown:
            raise ValueError(
                f"no metric {', '.join(unknown)} in the history (it has: {', '.join(names) or 'none'})"
            )
        return list(wanted)
    return [name for name in DEFAULT_METRICS if name in names] or names


def curves(document: Mapping[str, Any], metrics: Sequence[str], run: str | None = None) -> list[Curve]:
    """The curves of `metrics`, labelled `run: metric` when a run name is given."""
    series = document.get(axis(document)) or {}
    found = []
    for metric in metrics:
        points = series.get(metric, {}).get("points") or []
        label = f"{run}: {metric}" if run else metric
        found.append(Curve(label, metric, tuple(p[0] for p in points), tuple(p[1] for p in points)))
    return found


def marks(document: Mapping[str, Any]) -> Marks:
    """The run's restarts, early stop and best value, on the document's axis."""
    key = "epoch" if axis(document) == EPOCHS else "step"
    restarts = tuple(
        (int(a[key]), int(a["attempt"])) for a in document.get("attempts") or () if a.get("attempt", 0) > 0
    )
    early = (document.get("earlyStop") or {}).get("epoch")
    best = document.get("best") or {}
    best_mark = None
    if best.get("epoch") is not None and isinstance(best.get("value"), (int, float)):
        best_mark = (int(best["epoch"]), float(best["value"]), str(best.get("metric", "")))
    return Marks(restarts, int(early) if early is not None else None, best_mark)


def best_point(curve: Curve, run: Marks) -> tuple[float, float, str] | None:
    """The point of `curve` to ring (x, y, what it is), or None for an empty curve.

    The run's monitored `best`; else the `lowest` point (`highest` for an accuracy-like name).
    """
    if run.best is not None and run.best[2] == curve.metric:
        return float(run.best[0]), run.best[1], "best"
    finite = [(x, y) for x, y in zip(curve.xs, curve.ys, strict=True) if math.isfinite(y)]
    if not finite:
        return None
    if HIGHER_IS_BETTER.search(curve.metric):
        return (*max(finite, key=lambda point: point[1]), "highest")
    return (*min(finite, key=lambda point: point[1]), "lowest")


def chart_data(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the dashboard's charts draw of a document, JSON-ready (a malformed one is a ValueError).

    The x unit (`epoch` or `step`), the run's vertical marks, and each metric's points and best point.
    """
    try:
        run = marks(document)
        lines = {}
        for curve in curves(document, metric_names(document)):
            best = best_point(curve, run)
            lines[curve.metric] = {
                "points": [[x, y] for x, y in zip(curve.xs, curve.ys, strict=True)],
                "best": None if best is None else {"x": best[0], "y": best[1], "kind": best[2]},
            }
    except (KeyError, TypeError, IndexError, AttributeError) as error:
        raise ValueError(f"the history document is malformed ({type(error).__name__}: {error})") from error
    vertical = [{"x": x, "label": f"restart {attempt}", "kind": "restart"} for x, attempt in run.restarts]
    if run.early_stop is not None:
        vertical.append({"x": run.early_stop, "label": "early stop", "kind": "early-stop"})
    return {"unit": axis(document)[:-1], "marks": vertical, "metrics": lines}


def table_rows(document: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per x (epoch or step) of any series, one column per metric; the attempt of each row."""
    kind = axis(document)
    names = metric_names(document)
    series = {name: dict((int(x), y) for x, y in document[kind][name]["points"]) for name in names}
    xs = sorted({x for values in series.values() for x in values})
    starts = sorted(
        (int(a["epoch" if kind == EPOCHS else "step"]), int(a["attempt"]))
        for a in document.get("attempts") or ()
    )
    rows = []
    for x in xs:
        attempt = max((number for start, number in starts if start <= x), default=0)
        rows.append([str(x), str(attempt), *(_number(series[name].get(x)) for name in names)])
    return [kind[:-1], "attempt", *names], rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def sparkline(values: Sequence[float], width: int = 40) -> str:
    """The values as one line of block characters, resampled to at most `width`."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return ""
    if len(finite) > width:
        finite = [finite[round(i * (len(finite) - 1) / (width - 1))] for i in range(width)]
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(SPARKS[round((value - low) / span * (len(SPARKS) - 1))] for value in finite)


def loss_summary(document: Mapping[str, Any]) -> str | None:
    """`trainjob status`'s loss line: a sparkline, first and last value, and the lowest, or None."""
    (curve,) = curves(document, ["loss"]) if "loss" in metric_names(document) else (None,)
    if curve is None or not curve.ys:
        return None
    low = min(range(len(curve.ys)), key=curve.ys.__getitem__)
    unit = axis(document)[:-1]
    return (
        f"{sparkline(curve.ys)} {curve.ys[0]:.4g} -> {curve.ys[-1]:.4g} "
        f"(lowest {curve.ys[low]:.4g} at {unit} {curve.xs[low]:g})"
    )
