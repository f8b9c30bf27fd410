"""`trainjob plot NAME [NAME...]` (or `--run-dir DIR`): loss curves, in the terminal or to a PNG/SVG file.

Several runs go on one plot, to compare them; restarts, early stops and best values are marked.
matplotlib is imported only to write a file (`pip install 'trainjob[plot]'`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from trainjob.cli.base import EXIT_INVALID, Commands, add_cluster_options, connect
from trainjob.client.histories import cluster_history, run_dir_history
from trainjob.plotting.curves import axis, chosen_metrics, curves, marks

DEFAULT_SIZE = (900, 540)


def register(commands: Commands) -> None:
    """Add `plot`."""
    plot = commands.add_parser(
        "plot", help="draw TrainJobs' loss curves (in the terminal, or -o FILE.png|.svg)"
    )
    plot.add_argument("names", nargs="*", metavar="NAME", help="TrainJobs to draw together")
    plot.add_argument(
        "--run-dir", type=Path, action="append", default=[], help="a local run's dir (repeatable)"
    )
    plot.add_argument("--metric", help="comma-separated metrics (default: loss,val_loss where reported)")
    plot.add_argument(
        "-o", "--output", type=Path, help="write a PNG or SVG file instead of drawing in the terminal"
    )
    plot.add_argument(
        "--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", help="the file's WIDTHxHEIGHT in pixels"
    )
    add_cluster_options(plot)
    plot.set_defaults(handler=plot_histories)


def parse_size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT` in pixels (each 100 to 10000)."""
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if not match or not all(100 <= int(n) <= 10000 for n in match.groups()):
        raise ValueError(f"--size {text!r}: give WIDTHxHEIGHT in pixels, each 100 to 10000 (e.g. 900x540)")
    return int(match[1]), int(match[2])


def plot_histories(args: argparse.Namespace) -> int:
    """Draw the named runs' curves together."""
    if not args.names and not args.run_dir:
        print("error: name one or more TrainJobs, or give --run-dir", file=sys.stderr)
        return EXIT_INVALID
    try:
        size = parse_size(args.size)
        wanted = [name.strip() for name in args.metric.split(",") if name.strip()] if args.metric else None
        cluster = connect(args) if args.names else None
        runs = [(name, cluster_history(cluster, name)) for name in args.names] if cluster else []
        runs += [(str(run_dir), run_dir_history(run_dir)) for run_dir in args.run_dir]
        several = len(runs) > 1
        drawn = [
            curve
            for run, doc in runs
            for curve in curves(doc, chosen_metrics(doc, wanted), run if several else None)
        ]
        run_marks = [marks(doc) for _, doc in runs]
        kind = axis(runs[0][1])
        if args.output is None:
            from trainjob.plotting.text import draw

            print(draw(drawn, run_marks, kind))
            return 0
        from trainjob.plotting.image import figure, save

        save(figure(drawn, run_marks, kind, size), args.output)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    print(f"wrote {args.output} ({len(drawn)} curves, {size[0]}x{size[1]})")
    return 0
