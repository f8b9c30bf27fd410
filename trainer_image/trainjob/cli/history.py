"""`trainjob history NAME` (or `--run-dir DIR`): the training history as a table, CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

from trainjob.cli.base import Commands, add_cluster_options, connect
from trainjob.cli.render import table
from trainjob.client.histories import cluster_history, run_dir_history
from trainjob.plotting.curves import table_rows

FORMATS = ("table", "csv", "json")


def register(commands: Commands) -> None:
    """Add `history`."""
    history = commands.add_parser("history", help="show a TrainJob's training history")
    history.add_argument("name", nargs="?", help="the TrainJob")
    history.add_argument("--run-dir", type=Path, help="the run dir of a local `trainjob run` instead")
    history.add_argument("-o", "--output", choices=FORMATS, default="table", help="table, csv or json")
    add_cluster_options(history)
    history.set_defaults(handler=show_history)


def load(args: argparse.Namespace, name: str | None) -> dict[str, Any]:
    """The history a command names: a TrainJob's, or a local run's (`--run-dir`)."""
    if args.run_dir is not None:
        return run_dir_history(args.run_dir)
    return cluster_history(connect(args), name or "")


def show_history(args: argparse.Namespace) -> int:
    """Print the history of one TrainJob or local run."""
    if (args.name is None) == (args.run_dir is None):
        print("error: name a TrainJob or give --run-dir, not both", file=sys.stderr)
        return 2
    document = load(args, args.name)
    if args.output == "json":
        print(json.dumps(document, indent=2))
        return 0
    headers, rows = table_rows(document)
    if args.output == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows([headers, *rows])
    else:
        print(table([header.upper() for header in headers], rows))
    return 0
