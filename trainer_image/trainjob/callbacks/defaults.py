"""The callbacks a Trainer gets unless told otherwise, chosen from its config and environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from trainjob.callbacks.base import Callback
from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.callbacks.early_stopping import EarlyStopping
from trainjob.callbacks.loss_monitor import LossMonitor
from trainjob.callbacks.progress_monitor import ProgressMonitor
from trainjob.callbacks.status_reporter import StatusReporter
from trainjob.config import TrainerConfig
from trainjob.contract import TRAINJOB_STATUS_FILE, WorkerEnvironment
from trainjob.status.kube import kube_sink_from_environment
from trainjob.status.sinks import FileSink
from trainjob.status.writer import StatusSink

#: Optional override of the reporter's minimum seconds between status writes.
STATUS_INTERVAL_VARIABLE = "TRAINJOB_STATUS_INTERVAL_SECONDS"
LOCAL_STATUS_INTERVAL_S = 0.5
CLUSTER_STATUS_INTERVAL_S = 10.0


def default_callbacks(
    config: TrainerConfig, env: WorkerEnvironment, environ: Mapping[str, str] | None = None
) -> list[Callback]:
    """The callbacks for this config and environment.

    Progress and loss monitoring always; early stopping and checkpoints when configured;
    status reporting when the worker runs for a TrainJob (a pod, or the local runner).
    The reporter comes last so that it reports what the others decided at each epoch's end.
    """
    callbacks: list[Callback] = [ProgressMonitor(), LossMonitor(config.log_every_n_steps)]
    if config.early_stopping is not None:
        callbacks.append(EarlyStopping(config.early_stopping))
    if config.checkpoint is not None:
        callbacks.append(CheckpointSaver(config.checkpoint))
    reporter = status_reporter_from_environment(env, os.environ if environ is None else environ)
    if reporter is not None:
        callbacks.append(reporter)
    return callbacks


def status_reporter_from_environment(
    env: WorkerEnvironment, environ: Mapping[str, str]
) -> StatusReporter | None:
    """A reporter writing where this worker's TrainJob status lives, or None outside a TrainJob."""
    sink: StatusSink | None = None
    interval = CLUSTER_STATUS_INTERVAL_S
    if environ.get(TRAINJOB_STATUS_FILE):
        sink = FileSink(environ[TRAINJOB_STATUS_FILE])
        interval = LOCAL_STATUS_INTERVAL_S
    if sink is None:
        sink = kube_sink_from_environment(env.job, environ)
    if sink is None:
        return None
    if environ.get(STATUS_INTERVAL_VARIABLE):
        interval = float(environ[STATUS_INTERVAL_VARIABLE])
    return StatusReporter(sink, min_interval_s=interval)
