"""The `trainjob` command line, and the same cluster commands as the kubectl plugin `kubectl trainjob`.

Local: `run FILE` (a TrainJob as local processes), `launch -- COMMAND` (the node launcher).
Cluster, with the user's kubeconfig and context as kubectl uses them: `list`, `status NAME`,
`watch NAME`, `logs NAME`, `stop NAME`, `history NAME`, `plot NAME...` (these two also for a
local run, with `--run-dir DIR`), and `dashboard` (a live web page of every TrainJob).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from trainjob.cli import dashboard, history, listing, local, logs, plot, status, stop, watch
from trainjob.cli.base import EXIT_FAILED, EXIT_INTERRUPTED

CLUSTER_COMMANDS = (listing, status, watch, logs, stop, history, plot, dashboard)


def build_parser(prog: str, *, with_local: bool) -> argparse.ArgumentParser:
    """The parser of every subcommand (the local ones only with `with_local`)."""
    parser = argparse.ArgumentParser(prog=prog, description="Kubernetes-native PyTorch training jobs.")
    parser.set_defaults(program=prog)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in ((local,) if with_local else ()) + CLUSTER_COMMANDS:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainjob` console script."""
    return _dispatch(build_parser("trainjob", with_local=True), argv)


def kubectl_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kubectl-trainjob`, which kubectl runs for `kubectl trainjob ...`."""
    return _dispatch(build_parser("kubectl trainjob", with_local=False), argv)


def _dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    from trainjob.client.connection import ClusterError

    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
