"""A rank's log for the page: the `trainjob logs -f` machinery, one rank, as server-sent events."""

from __future__ import annotations

import queue
from collections.abc import Iterator

from trainjob.cli.logs import DONE, follow_logs, sources
from trainjob.client.connection import Cluster, ClusterError
from trainjob.client.trainjobs import TrainJob
from trainjob.client.workers import WorkerPods, latest_workers
from trainjob.dashboard.sse import KEEPALIVE, KEEPALIVE_S, frame


def rank_log(cluster: Cluster, trainjob: TrainJob, rank: int) -> Iterator[bytes]:
    """Frames of rank `rank`'s log (current attempt), followed until its worker ends.

    Events: `source` (the pod), `line` (one log line, as text), `problem` (why it cannot be
    read), and `end` last, always.
    """
    yield from _rank_log(cluster, trainjob, rank)
    yield frame("end", {})


def _rank_log(cluster: Cluster, trainjob: TrainJob, rank: int) -> Iterator[bytes]:
    spec, status = trainjob.get("spec") or {}, trainjob.get("status") or {}
    nnodes, nproc = int(spec.get("numNodes", 1)), int(spec.get("numProcPerNode", 1))
    name = trainjob["metadata"]["name"]
    if not 0 <= rank < nnodes * nproc:
        yield frame("problem", {"message": f"rank {rank} is outside 0..{nnodes * nproc - 1}"})
        return
    pods = WorkerPods(cluster)
    try:
        workers = latest_workers(pods.of(name), int(status.get("restarts", 0)))
    except ClusterError as error:
        yield frame("problem", {"message": str(error)})
        return
    chosen = sources(workers, nproc, rank)
    if not chosen:
        yield frame(
            "problem", {"message": f"rank {rank} has no worker pod yet (phase {status.get('phase')})"}
        )
        return
    (source,) = chosen
    yield frame("source", {"pod": source.worker.pod, "prefix": source.prefix})
    lines = follow_logs(pods, [source], previous=False)
    while True:
        try:
            item = lines.get(timeout=KEEPALIVE_S)
        except queue.Empty:
            yield KEEPALIVE
            continue
        if item is DONE:
            return
        if isinstance(item, ClusterError):
            yield frame("problem", {"message": str(item)})
        else:
            yield frame("line", {"text": str(item)})
