"""The callbacks a Trainer gets unless told otherwise, chosen from its config and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from trainjob.callbacks.base import Callback
from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.callbacks.early_stopping import EarlyStopping
from trainjob.callbacks.loss_monitor import LossMonitor
from trainjob.callbacks.progress_monitor import ProgressMonitor
from trainjob.callbacks.status_reporter import StatusReporter
from trainjob.callbacks.stop_on_request import StopOnRequest
from trainjob.config import TrainerConfig
from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.history_store import (
    HISTORY_FILE_NAME,
    ConfigMapHistoryStore,
    FileHistoryStore,
    HistoryStore,
)
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink, cluster_access_from_environment
from trainjob.reporting.sinks import FileSink
from trainjob.reporting.writer import StatusSink
from trainjob_api.contract import TRAINJOB_STATUS_FILE, WorkerEnvironment

#: Optional override of the reporter's minimum seconds between status writes.
STATUS_INTERVAL_VARIABLE = "TRAINJOB_STATUS_INTERVAL_SECONDS"
LOCAL_STATUS_INTERVAL_S = 0.5
CLUSTER_STATUS_INTERVAL_S = 10.0
#: Optional override of the minimum seconds between history saves (a save rewrites all of it).
HISTORY_INTERVAL_VARIABLE = "TRAINJOB_HISTORY_INTERVAL_SECONDS"
LOCAL_HISTORY_INTERVAL_S = 1.0
CLUSTER_HISTORY_INTERVAL_S = 30.0


def default_callbacks(
    config: TrainerConfig, env: WorkerEnvironment, environ: Mapping[str, str] | None = None
) -> list[Callback]:
    """The callbacks for this config and environment.

    Progress and loss monitoring always; early stopping and checkpoints when configured;
    stop requests through the TrainJob's annotation when the worker runs in a TrainJob pod;
    status reporting when the worker runs for a TrainJob (a pod, or the local runner).
    The reporter comes last so that it reports what the others decided at each epoch's end.
    """
    environ = os.environ if environ is None else environ
    callbacks: list[Callback] = [ProgressMonitor(), LossMonitor(config.log_every_n_steps)]
    if config.early_stopping is not None:
        callbacks.append(EarlyStopping(config.early_stopping))
    if config.checkpoint is not None:
        callbacks.append(CheckpointSaver(config.checkpoint))
    access = cluster_access_from_environment(env.job, environ)
    if access is not None and env.job is not None:
        callbacks.append(StopOnRequest(access, env.job))
    reporter = status_reporter_from_environment(env, environ, access)
    if reporter is not None:
        callbacks.append(reporter)
    return callbacks


def status_reporter_from_environment(
    env: WorkerEnvironment, environ: Mapping[str, str], access: ClusterAccess | None
) -> StatusReporter | None:
    """A reporter writing where this worker's TrainJob status lives, or None outside a TrainJob.

    The local runner names a status file (the history goes next to it); in a pod, `access`
    reaches the TrainJob's status and its history ConfigMap.
    """
    sink: StatusSink
    store: HistoryStore
    interval, history_interval = CLUSTER_STATUS_INTERVAL_S, CLUSTER_HISTORY_INTERVAL_S
    if environ.get(TRAINJOB_STATUS_FILE):
        status_file = Path(environ[TRAINJOB_STATUS_FILE])
        sink, store = FileSink(status_file), FileHistoryStore(status_file.parent / HISTORY_FILE_NAME)
        interval, history_interval = LOCAL_STATUS_INTERVAL_S, LOCAL_HISTORY_INTERVAL_S
    elif access is not None and env.job is not None:
        sink, store = KubeStatusSink(access, env.job), ConfigMapHistoryStore(access, env.job)
    else:
        return None
    if environ.get(STATUS_INTERVAL_VARIABLE):
        interval = float(environ[STATUS_INTERVAL_VARIABLE])
    if environ.get(HISTORY_INTERVAL_VARIABLE):
        history_interval = float(environ[HISTORY_INTERVAL_VARIABLE])
    return StatusReporter(sink, min_interval_s=interval, history=HistoryRecorder(store, history_interval))
