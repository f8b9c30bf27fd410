"""`trainjob list`: the TrainJobs as a table, like `kubectl get trainjobs`."""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from trainjob.cli.base import Commands, add_cluster_options, add_output_option, connect, print_object
from trainjob.cli.render import NONE, age, number, table
from trainjob.client.trainjobs import TrainJobs, phase_of

COLUMNS = ("NAME", "PHASE", "NODES", "EPOCH", "PROGRESS", "LOSS", "AGE")


def register(commands: Commands) -> None:
    """Add `list`."""
    listing = commands.add_parser("list", help="list TrainJobs, like `kubectl get trainjobs`")
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="list the TrainJobs of every namespace"
    )
    add_output_option(listing, "the TrainJobList")
    add_cluster_options(listing)
    listing.set_defaults(handler=list_trainjobs)


def list_trainjobs(args: argparse.Namespace) -> int:
    """Print the TrainJobs as a table (or the list as JSON/YAML)."""
    trainjobs = TrainJobs(connect(args))
    listed = trainjobs.list(all_namespaces=args.all_namespaces)
    if args.output:
        print_object(listed, args.output)
        return 0
    items = listed.get("items") or []
    if not items:
        where = "any namespace" if args.all_namespaces else f'namespace "{trainjobs.namespace}"'
        print(f"No TrainJobs in {where}.")
        return 0
    print(trainjob_table(items, datetime.datetime.now(datetime.UTC), args.all_namespaces))
    return 0


def trainjob_table(items: Sequence[Mapping[str, Any]], now: datetime.datetime, namespaces: bool) -> str:
    """The TrainJobs as `kubectl get tj` shows them (NAMESPACE first with `namespaces`)."""
    rows = []
    for item in sorted(items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"])):
        metadata, spec = item["metadata"], item.get("spec") or {}
        status = item.get("status") or {}
        progress, metrics = status.get("progress") or {}, status.get("metrics") or {}
        epoch = f"{progress['epoch']}/{progress.get('totalEpochs', NONE)}" if "epoch" in progress else NONE
        percent = f"{float(progress['percent']):.1f}%" if "percent" in progress else NONE
        row = [
            metadata["name"],
            phase_of(item),
            str(spec.get("numNodes", NONE)),
            epoch,
            percent,
            number(metrics.get("loss")),
            age(metadata.get("creationTimestamp"), now),
        ]
        rows.append([metadata.get("namespace", ""), *row] if namespaces else row)
    return table(["NAMESPACE", *COLUMNS] if namespaces else COLUMNS, rows)
