"""Where this worker's status goes: the TrainJob's status subresource, the local runner's file, or nowhere.

One choice for every reporter (the Trainer's, the one-call API, the framework integrations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.history_store import (
    HISTORY_FILE_NAME,
    ConfigMapHistoryStore,
    FileHistoryStore,
    HistoryStore,
)
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink
from trainjob.reporting.sinks import FileSink, TerminationMessage
from trainjob.reporting.writer import StatusSink
from trainjob_api.contract import TRAINJOB_STATUS_FILE, TRAINJOB_TERMINATION_MESSAGE, WorkerEnvironment

#: Optional override of the reporter's minimum seconds between status writes.
STATUS_INTERVAL_VARIABLE = "TRAINJOB_STATUS_INTERVAL_SECONDS"
LOCAL_STATUS_INTERVAL_S = 0.5
CLUSTER_STATUS_INTERVAL_S = 10.0
#: Optional override of the minimum seconds between history saves (a save rewrites all of it).
HISTORY_INTERVAL_VARIABLE = "TRAINJOB_HISTORY_INTERVAL_SECONDS"
LOCAL_HISTORY_INTERVAL_S = 1.0
CLUSTER_HISTORY_INTERVAL_S = 30.0


@dataclass(frozen=True)
class StatusTarget:
    """A sink for status fragments, the least seconds between two writes to it, and the history."""

    sink: StatusSink
    min_interval_s: float
    #: Keeps what is reported, beside the status (the TrainJob's history ConfigMap, or a file).
    history: HistoryRecorder
    #: Where the final status also goes when the reporter closes (the pod's termination message).
    last_word: Callable[[dict[str, Any]], None] | None = None


def status_target(
    env: WorkerEnvironment, environ: Mapping[str, str], access: ClusterAccess | None
) -> StatusTarget | None:
    """Where this worker's TrainJob status and history live, or None outside a TrainJob.

    The local runner names a status file (the history goes next to it); in a pod, `access`
    reaches the TrainJob's status and its history ConfigMap, and the final status is also left
    in the file `TRAINJOB_TERMINATION_MESSAGE` names. `TRAINJOB_STATUS_INTERVAL_SECONDS`
    and `TRAINJOB_HISTORY_INTERVAL_SECONDS` override the intervals.
    """
    sink: StatusSink
    store: HistoryStore
    last_word: Callable[[dict[str, Any]], None] | None = None
    interval, history_interval = CLUSTER_STATUS_INTERVAL_S, CLUSTER_HISTORY_INTERVAL_S
    if environ.get(TRAINJOB_STATUS_FILE):
        status_file = Path(environ[TRAINJOB_STATUS_FILE])
        sink, store = FileSink(status_file), FileHistoryStore(status_file.parent / HISTORY_FILE_NAME)
        interval, history_interval = LOCAL_STATUS_INTERVAL_S, LOCAL_HISTORY_INTERVAL_S
    elif access is not None and env.job is not None:
        sink, store = KubeStatusSink(access, env.job), ConfigMapHistoryStore(access, env.job)
        if environ.get(TRAINJOB_TERMINATION_MESSAGE):
            last_word = TerminationMessage(environ[TRAINJOB_TERMINATION_MESSAGE]).write
    else:
        return None
    if environ.get(STATUS_INTERVAL_VARIABLE):
        interval = float(environ[STATUS_INTERVAL_VARIABLE])
    if environ.get(HISTORY_INTERVAL_VARIABLE):
        history_interval = float(environ[HISTORY_INTERVAL_VARIABLE])
    return StatusTarget(sink, interval, HistoryRecorder(store, history_interval), last_word)
