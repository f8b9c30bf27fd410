"""`trainjob status NAME`: one TrainJob's phase, progress, metrics, early stopping and failures."""

from __future__ import annotations

import argparse
import datetime

from trainjob.cli.base import Commands, add_cluster_options, add_output_option, connect, print_object
from trainjob.cli.describe import describe
from trainjob.client.connection import ClusterError
from trainjob.client.histories import cluster_history
from trainjob.client.trainjobs import TrainJobs
from trainjob.plotting.curves import loss_summary


def register(commands: Commands) -> None:
    """Add `status`."""
    status = commands.add_parser("status", help="show a TrainJob's phase, progress, metrics and failures")
    status.add_argument("name", help="the TrainJob")
    add_output_option(status, "the TrainJob")
    add_cluster_options(status)
    status.set_defaults(handler=show_status)


def loss_line(args: argparse.Namespace) -> str | None:
    """The loss sparkline from the TrainJob's history, or None when it has none (or it is unreadable)."""
    try:
        return loss_summary(cluster_history(connect(args), args.name))
    except (ClusterError, ValueError):
        return None


def show_status(args: argparse.Namespace) -> int:
    """Print one TrainJob's status, readable (or the TrainJob as JSON/YAML)."""
    trainjob = TrainJobs(connect(args)).get(args.name)
    if args.output:
        print_object(trainjob, args.output)
    else:
        print(describe(trainjob, datetime.datetime.now(datetime.UTC), loss_line(args)))
    return 0
