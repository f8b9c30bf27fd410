"""`trainjob dashboard`: every TrainJob live in a browser, served from this machine with your kubeconfig."""

from __future__ import annotations

import argparse
import sys

from trainjob.cli.base import Commands, add_cluster_options, connect

DEFAULT_ADDRESS = "127.0.0.1"
DEFAULT_PORT = 8080


def register(commands: Commands) -> None:
    """Add `dashboard`."""
    dashboard = commands.add_parser(
        "dashboard",
        help="serve a live web dashboard of the TrainJobs (on 127.0.0.1, with your own credentials)",
        description="Every TrainJob of the namespace (or of all, -A) live: progress, loss, curves, "
        "conditions, Events, workers and their logs, and a stop button. One watch on the TrainJobs "
        "feeds every open page. Your credentials stay in this process; the page never sees them.",
    )
    dashboard.add_argument(
        "-A", "--all-namespaces", action="store_true", help="show the TrainJobs of every namespace"
    )
    dashboard.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"the address to listen on (default {DEFAULT_ADDRESS}: this machine only)",
    )
    dashboard.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the port (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    dashboard.add_argument("--open", action="store_true", help="open the page in a web browser")
    dashboard.add_argument(
        "--in-cluster",
        action="store_true",
        help="use the pod's ServiceAccount instead of a kubeconfig (how the Helm chart runs it)",
    )
    add_cluster_options(dashboard)
    dashboard.set_defaults(handler=serve_dashboard)


def serve_dashboard(args: argparse.Namespace) -> int:
    """Start the watch and the server, print the URL, and serve until interrupted."""
    from trainjob.client.connection import connect_in_cluster
    from trainjob.dashboard.app import build

    cluster = connect_in_cluster(args.namespace) if args.in_cluster else connect(args)
    server = build(cluster, args.address, args.port, all_namespaces=args.all_namespaces)
    server.start_watch()
    url = server.url
    where = "every namespace" if args.all_namespaces else f'namespace "{cluster.namespace}"'
    print(
        f"trainjob dashboard: {url} (TrainJobs of {where}, context {cluster.context}); Ctrl-C stops it",
        flush=True,
    )
    if args.open:
        import webbrowser

        if not webbrowser.open(url):
            print(f"could not open a browser; open {url} yourself", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
