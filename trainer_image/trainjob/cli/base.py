"""What every command shares: exit codes, the kubectl-style connection flags, and `-o json|yaml`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainjob.client.connection import Cluster

#: The subcommand registry every command module adds its parsers to.
Commands = argparse._SubParsersAction  # type: ignore[type-arg]

EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130
OUTPUT_FORMATS = ("json", "yaml")


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """`--kubeconfig`, `--context` and `-n/--namespace`, as kubectl has them."""
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", help="the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    group.add_argument("--context", help="the kubeconfig context (default: its current context)")
    group.add_argument("-n", "--namespace", help="the namespace (default: the context's namespace)")


def add_output_option(parser: argparse.ArgumentParser, what: str) -> None:
    """`-o json|yaml`: print `what` as the apiserver returns it, instead of the readable view."""
    parser.add_argument("-o", "--output", choices=OUTPUT_FORMATS, help=f"print {what} as JSON or YAML")


def command_line(args: argparse.Namespace, *words: str) -> str:
    """How to run another command of this program for the same cluster and namespace (for hints)."""
    flags = [
        f"{flag} {value}"
        for flag, value in (
            ("--kubeconfig", args.kubeconfig),
            ("--context", args.context),
            ("-n", args.namespace),
        )
        if value
    ]
    return " ".join([args.program, *words, *flags])


def connect(args: argparse.Namespace) -> Cluster:
    """The cluster the connection flags point at."""
    from trainjob.client.connection import connect as connect_cluster

    return connect_cluster(args.kubeconfig, args.context, args.namespace)


def print_object(document: Any, output: str) -> None:
    """Print an API object (or list) as JSON or YAML."""
    if output == "json":
        print(json.dumps(document, indent=2))
        return
    import yaml

    print(yaml.safe_dump(document, sort_keys=False), end="")
