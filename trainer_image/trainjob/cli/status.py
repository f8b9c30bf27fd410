"""`trainjob status NAME`: one TrainJob's phase, progress, metrics, early stopping and failures."""

from __future__ import annotations

import argparse
import datetime

from trainjob.cli.base import Commands, add_cluster_options, add_output_option, connect, print_object
from trainjob.cli.describe import describe
from trainjob.client.trainjobs import TrainJobs


def register(commands: Commands) -> None:
    """Add `status`."""
    status = commands.add_parser("status", help="show a TrainJob's phase, progress, metrics and failures")
    status.add_argument("name", help="the TrainJob")
    add_output_option(status, "the TrainJob")
    add_cluster_options(status)
    status.set_defaults(handler=show_status)


def show_status(args: argparse.Namespace) -> int:
    """Print one TrainJob's status, readable (or the TrainJob as JSON/YAML)."""
    trainjob = TrainJobs(connect(args)).get(args.name)
    if args.output:
        print_object(trainjob, args.output)
    else:
        print(describe(trainjob, datetime.datetime.now(datetime.UTC)))
    return 0
