"""Where this worker's status goes: the TrainJob's status subresource, the local runner's file, or nowhere.

One choice for every reporter (the Trainer's, the one-call API, the framework integrations).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trainjob.contract import TRAINJOB_STATUS_FILE, WorkerEnvironment
from trainjob.status.kube import ClusterAccess, KubeStatusSink
from trainjob.status.sinks import FileSink
from trainjob.status.writer import StatusSink

#: Optional override of the reporter's minimum seconds between status writes.
STATUS_INTERVAL_VARIABLE = "TRAINJOB_STATUS_INTERVAL_SECONDS"
LOCAL_STATUS_INTERVAL_S = 0.5
CLUSTER_STATUS_INTERVAL_S = 10.0


@dataclass(frozen=True)
class StatusTarget:
    """A sink for status fragments and the least seconds between two writes to it."""

    sink: StatusSink
    min_interval_s: float


def status_target(
    env: WorkerEnvironment, environ: Mapping[str, str], access: ClusterAccess | None
) -> StatusTarget | None:
    """Where this worker's TrainJob status lives, or None outside a TrainJob.

    The local runner names a status file; in a pod, `access` reaches the TrainJob's status.
    `TRAINJOB_STATUS_INTERVAL_SECONDS` overrides the interval.
    """
    sink: StatusSink
    interval = CLUSTER_STATUS_INTERVAL_S
    if environ.get(TRAINJOB_STATUS_FILE):
        sink = FileSink(environ[TRAINJOB_STATUS_FILE])
        interval = LOCAL_STATUS_INTERVAL_S
    elif access is not None and env.job is not None:
        sink = KubeStatusSink(access, env.job)
    else:
        return None
    if environ.get(STATUS_INTERVAL_VARIABLE):
        interval = float(environ[STATUS_INTERVAL_VARIABLE])
    return StatusTarget(sink, interval)
