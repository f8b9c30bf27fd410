"""How the operator runs: scope, high availability, endpoints, logging. Flags and environment.

Every flag has an environment variable (`TRAINJOB_OPERATOR_<FLAG>`), so that a Deployment or
Helm chart can set them either way.
"""

from __future__ import annotations

import argparse
import os
import socket
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

ENV_PREFIX = "TRAINJOB_OPERATOR_"


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's settings."""

    #: Watch only these namespaces; empty: the whole cluster.
    namespaces: tuple[str, ...] = ()
    #: The kopf peering object that elects one active replica (HA with several replicas; the
    #: KopfPeering CRDs must be installed); None runs standalone (one replica).
    peering: str | None = None
    #: Among peers the highest priority is active; by default derived from `identity`, so that
    #: replicas never tie (kopf pauses every replica of a tie).
    priority: int | None = None
    #: How long a replica's peering record counts as alive; each replica renews its own 5 to 10 s
    #: before it expires. A replica that dies without a word (SIGKILL, a lost node) is replaced by a
    #: paused one at most this long after its last renewal.
    peering_lifetime_seconds: int = 60
    #: This replica's name, for Events and peering (the pod name in a cluster).
    identity: str = socket.gethostname()
    #: kopf's liveness endpoint; None disables it.
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    #: The port of the Prometheus `/metrics` endpoint; None disables it.
    metrics_port: int | None = 9090
    metrics_host: str = "0.0.0.0"
    #: How often every unfinished TrainJob is reconciled even without news (deadlines, TTLs,
    #: stuck workers).
    resync_seconds: float = 30.0
    #: kopf's log format: json (structured), full, plain.
    log_format: str = "json"
    verbose: bool = False

    @property
    def clusterwide(self) -> bool:
        """Whether the operator watches every namespace."""
        return not self.namespaces

    @property
    def effective_priority(self) -> int:
        """The peering priority: the given one, or a stable number from this replica's identity."""
        return self.priority if self.priority is not None else zlib.crc32(self.identity.encode()) % 2**31


def _env(environ: Mapping[str, str], flag: str, default: str | None) -> str | None:
    return environ.get(ENV_PREFIX + flag.upper().replace("-", "_"), default)


def add_arguments(parser: argparse.ArgumentParser, environ: Mapping[str, str] | None = None) -> None:
    """Add the operator's flags (defaults from the environment) to a parser, e.g. a CLI subcommand."""
    env = os.environ if environ is None else environ
    defaults = OperatorConfig()
    parser.add_argument(
        "--namespace",
        dest="namespaces",
        action="append",
        default=[name for name in (_env(env, "namespaces", "") or "").split(",") if name],
        help="watch this namespace (repeatable; default: the whole cluster)",
    )
    parser.add_argument(
        "--peering",
        default=_env(env, "peering", defaults.peering),
        help="elect one active replica (HA) by this name",
    )
    parser.add_argument(
        "--priority", type=int, default=_env(env, "priority", None), help="the peering priority"
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=_env(env, "peering_lifetime", str(defaults.peering_lifetime_seconds)),
        help="seconds a replica's peering record lives without renewal (the failover time)",
    )
    parser.add_argument(
        "--identity", default=_env(env, "identity", defaults.identity), help="this replica's name"
    )
    parser.add_argument(
        "--liveness",
        default=_env(env, "liveness", defaults.liveness_endpoint),
        help="liveness URL ('' disables)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=_env(env, "metrics_port", str(defaults.metrics_port)),
        help="the /metrics port (0 disables)",
    )
    parser.add_argument("--metrics-host", default=_env(env, "metrics_host", defaults.metrics_host))
    parser.add_argument(
        "--resync-seconds", type=float, default=_env(env, "resync_seconds", str(defaults.resync_seconds))
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "full", "plain"),
        default=_env(env, "log_format", defaults.log_format),
    )
    parser.add_argument("--verbose", action="store_true", default=_env(env, "verbose", "") == "true")


def config_from_args(args: argparse.Namespace) -> OperatorConfig:
    """The configuration the flags of `add_arguments` describe."""
    return OperatorConfig(
        namespaces=tuple(args.namespaces),
        peering=args.peering or None,
        priority=None if args.priority is None else int(args.priority),
        peering_lifetime_seconds=int(args.peering_lifetime),
        identity=args.identity,
        liveness_endpoint=args.liveness or None,
        metrics_port=int(args.metrics_port) or None,
        metrics_host=args.metrics_host,
        resync_seconds=float(args.resync_seconds),
        log_format=args.log_format,
        verbose=args.verbose,
    )
