"""`trainjob logs NAME`: every worker's log, each line prefixed by its rank; `-f` follows them all."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from trainjob.cli.base import EXIT_FAILED, EXIT_INVALID, Commands, add_cluster_options, connect
from trainjob.client.connection import ClusterError
from trainjob.client.trainjobs import TrainJob, TrainJobs, is_finished, phase_of
from trainjob.client.workers import TERMINAL_POD_PHASES, Worker, WorkerPods, latest_workers

#: How often to look again while the workers are being created or their containers start.
RETRY_S = 1.0


def register(commands: Commands) -> None:
    """Add `logs`."""
    logs = commands.add_parser(
        "logs", help="print the workers' logs (the current attempt's pods), each line prefixed by its rank"
    )
    logs.add_argument("name", help="the TrainJob")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="stream every worker's log at once until the workers end"
    )
    logs.add_argument("--rank", type=int, help="only this rank's lines")
    logs.add_argument(
        "-p",
        "--previous",
        action="store_true",
        help="the previous run of each worker's container (as `kubectl logs --previous`)",
    )
    add_cluster_options(logs)
    logs.set_defaults(handler=show_logs)


@dataclass(frozen=True)
class Source:
    """One worker's log to print: its pod, the prefix of its lines, and which lines (a launcher's rank)."""

    worker: Worker
    prefix: str
    only: str | None = None

    def lines(self, raw: Iterator[str]) -> Iterator[str]:
        """The log's lines to print, prefixed."""
        for line in raw:
            if self.only is None or line.startswith(self.only):
                yield f"{self.prefix} {line}"


def sources(workers: Sequence[Worker], nproc: int, rank: int | None) -> list[Source]:
    """What to print of each worker pod.

    With one process per pod, a pod's node rank is its rank: lines get `[rank N]`. With more,
    the node launcher already prefixes each process's lines with `[rank N]`; pods get `[node N]`
    and `rank` picks its pod and its lines.
    """
    if nproc == 1:
        return [Source(w, f"[rank {w.node_rank}]") for w in workers if rank in (None, w.node_rank)]
    if rank is None:
        return [Source(w, f"[node {w.node_rank}]") for w in workers]
    return [
        Source(w, f"[node {w.node_rank}]", f"[rank {rank}] ") for w in workers if w.node_rank == rank // nproc
    ]


def show_logs(args: argparse.Namespace) -> int:
    """Print (or follow) the logs of the TrainJob's current workers."""
    cluster = connect(args)
    trainjobs, pods = TrainJobs(cluster), WorkerPods(cluster)
    trainjob = trainjobs.get(args.name)
    spec = trainjob.get("spec") or {}
    nnodes, nproc = int(spec.get("numNodes", 1)), int(spec.get("numProcPerNode", 1))
    if args.rank is not None and not 0 <= args.rank < nnodes * nproc:
        print(f"error: --rank {args.rank} is outside 0..{nnodes * nproc - 1}", file=sys.stderr)
        return EXIT_INVALID
    if args.follow:
        trainjob, workers = _wait_for_workers(trainjobs, pods, args.name, nnodes)
    else:
        workers = latest_workers(pods.of(args.name), _attempt(trainjob))
    if not workers:
        print(
            f'error: trainjob "{args.name}" has no worker pods (phase {phase_of(trainjob)})', file=sys.stderr
        )
        return EXIT_FAILED
    chosen = sources(workers, nproc, args.rank)
    if args.follow:
        return _follow(pods, chosen, args.previous)
    return _print_all(pods, chosen, args.previous)


def _attempt(trainjob: TrainJob) -> int:
    return int((trainjob.get("status") or {}).get("restarts", 0))


def _wait_for_workers(
    trainjobs: TrainJobs, pods: WorkerPods, name: str, nnodes: int
) -> tuple[TrainJob, list[Worker]]:
    """Wait until every worker of the current attempt exists (or the job has ended)."""
    said = False
    while True:
        trainjob = trainjobs.get(name)
        workers = pods.of(name)
        current = [worker for worker in workers if worker.attempt == _attempt(trainjob)]
        if len(current) >= nnodes:
            return trainjob, current
        if is_finished(trainjob):
            return trainjob, latest_workers(workers, _attempt(trainjob))
        if not said:
            print(f"waiting for the workers of {name} (phase {phase_of(trainjob)})...", file=sys.stderr)
            said = True
        time.sleep(RETRY_S)


def _print_all(pods: WorkerPods, chosen: Sequence[Source], previous: bool) -> int:
    """Each worker's log, one after the other, by rank."""
    failed = False
    for source in chosen:
        try:
            for line in source.lines(pods.log_lines(source.worker.pod, follow=False, previous=previous)):
                print(line)
        except ClusterError as error:
            print(f"error: {source.prefix} {error}", file=sys.stderr)
            failed = True
    return EXIT_FAILED if failed else 0


#: What `pump_log` puts last, when the log has ended (or could not be read).
DONE = object()


def follow_logs(pods: WorkerPods, chosen: Sequence[Source], previous: bool) -> queue.Queue[object]:
    """Start streaming each source's log (a daemon thread each, see `pump_log`) into one queue."""
    lines: queue.Queue[object] = queue.Queue()
    for source in chosen:
        threading.Thread(
            target=pump_log,
            args=(pods, source, previous, lines),
            name=f"logs-{source.worker.pod}",
            daemon=True,
        ).start()
    return lines


def _follow(pods: WorkerPods, chosen: Sequence[Source], previous: bool) -> int:
    """Every worker's log at once, line by line as they come, until every stream has ended."""
    lines = follow_logs(pods, chosen, previous)
    failed, running = False, len(chosen)
    while running:
        item = lines.get()
        if item is DONE:
            running -= 1
        elif isinstance(item, ClusterError):
            print(f"error: {item}", file=sys.stderr, flush=True)
            failed = True
        else:
            print(item, flush=True)
    return EXIT_FAILED if failed else 0


def pump_log(pods: WorkerPods, source: Source, previous: bool, out: queue.Queue[object]) -> None:
    """Stream one worker's log into `out`, waiting while its container has not started yet.

    `out` gets the prefixed lines, a ClusterError if the log cannot be read, and `DONE` last.
    """
    pod = source.worker.pod
    try:
        while True:
            try:
                for line in source.lines(pods.log_lines(pod, follow=True, previous=previous)):
                    out.put(line)
                return
            except ClusterError as error:
                if error.status != HTTPStatus.BAD_REQUEST or pods.phase(pod) in (None, *TERMINAL_POD_PHASES):
                    out.put(ClusterError(f"{source.prefix} {error}", error.status))
                    return
            time.sleep(RETRY_S)  # the container is still being created
    except ClusterError as error:
        out.put(error)
    finally:
        out.put(DONE)
