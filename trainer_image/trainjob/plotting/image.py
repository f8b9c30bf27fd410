"""Curves drawn with matplotlib into a PNG or SVG file (matplotlib comes with the `plot` extra).

Every curve's line carries the gid `curve:<label>`, so an SVG names its curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trainjob.plotting.curves import Curve, Marks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = (".png", ".svg")
DPI = 100


def figure(curves: Sequence[Curve], marks: Sequence[Marks], axis: str, size: tuple[int, int]) -> Figure:
    """A figure of `size` pixels: curves, restarts (dashed), early stops (dotted), best values (stars)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise RuntimeError("drawing to a file needs matplotlib: pip install 'trainjob[plot]'") from error
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    ax = fig.add_subplot()
    for curve in curves:
        (line,) = ax.plot(curve.xs, curve.ys, marker="." if len(curve.xs) < 60 else None, label=curve.label)
        line.set_gid(f"curve:{curve.label}")
    labelled: set[str] = set()

    def once(label: str) -> str | None:
        if label in labelled:
            return None
        labelled.add(label)
        return label

    for run in marks:
        for x, _ in run.restarts:
            ax.axvline(x, color="grey", linestyle="--", linewidth=1, label=once("restart"), gid="restart")
        if run.early_stop is not None:
            ax.axvline(
                run.early_stop,
                color="red",
                linestyle=":",
                linewidth=1.5,
                label=once("early stop"),
                gid="early-stop",
            )
        if run.best is not None and any(curve.metric == run.best[2] for curve in curves):
            x, y, metric = run.best
            star = {"marker": "*", "markersize": 14, "color": "gold", "markeredgecolor": "black"}
            ax.plot([x], [y], linestyle="none", label=once(f"best {metric}"), gid="best", **star)
    ax.set_xlabel(axis)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> None:
    """Write the figure to `path` (PNG or SVG, by its suffix) at exactly the figure's pixel size."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: the plot is written as PNG or SVG (name the file .png or .svg)")
    fig.savefig(path, dpi=DPI)
