"""Curves drawn with characters, for a terminal: no plotting library needed."""

from __future__ import annotations

from collections.abc import Sequence

from trainjob.plotting.curves import Curve, Marks

GLYPHS = "*o+x#@%&"
RESTART, EARLY_STOP, BEST = ":", "|", "B"


def draw(
    curves: Sequence[Curve], marks: Sequence[Marks], axis: str, width: int = 72, height: int = 18
) -> str:
    """The curves on one character grid, with restarts (`:`), early stops (`|`) and best values (`B`)."""
    points = [(x, y) for curve in curves for x, y in zip(curve.xs, curve.ys, strict=True)]
    if not points:
        return "(no points to draw)"
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    x_span, y_span = (x_high - x_low) or 1, (y_high - y_low) or 1
    grid = [[" "] * width for _ in range(height)]

    def column(x: float) -> int:
        return min(width - 1, max(0, round((x - x_low) / x_span * (width - 1))))

    def row(y: float) -> int:
        return min(height - 1, max(0, round((y_high - y) / y_span * (height - 1))))

    for run in marks:
        for x, glyph in [
            *((x, RESTART) for x, _ in run.restarts),
            *(((run.early_stop, EARLY_STOP),) if run.early_stop is not None else ()),
        ]:
            for line in grid:
                line[column(x)] = glyph
    for index, curve in enumerate(curves):
        for x, y in zip(curve.xs, curve.ys, strict=True):
            grid[row(y)][column(x)] = GLYPHS[index % len(GLYPHS)]
    for run in marks:
        if run.best is not None and any(curve.metric == run.best[2] for curve in curves):
            grid[row(run.best[1])][column(run.best[0])] = BEST
    label_width = max(len(f"{y_high:.4g}"), len(f"{y_low:.4g}"))
    lines = []
    for number, line in enumerate(grid):
        label = f"{y_high:.4g}" if number == 0 else f"{y_low:.4g}" if number == height - 1 else ""
        lines.append(f"{label:>{label_width}} ┤{''.join(line)}")
    lines.append(f"{'':>{label_width}} └{'─' * width}")
    lines.append(f"{'':>{label_width}}  {x_low:g}{f'{axis} {x_high:g}':>{width - len(f'{x_low:g}')}}")
    legend = [f"{GLYPHS[i % len(GLYPHS)]} {curve.label}" for i, curve in enumerate(curves)]
    legend.append(f"{RESTART} restart  {EARLY_STOP} early stop  {BEST} best value")
    return "\n".join([*lines, "  ".join(legend[:-1]), legend[-1]])
