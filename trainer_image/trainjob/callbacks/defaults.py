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
from trainjob.callbacks.stop_on_request import StopOnRequest
from trainjob.config import TrainerConfig
from trainjob.reporting.kube import ClusterAccess, cluster_access_from_environment
from trainjob.reporting.target import status_target
from trainjob_api.contract import WorkerEnvironment


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
    """A reporter writing where this worker's TrainJob status (and history) lives, or None outside one."""
    target = status_target(env, environ, access)
    if target is None:
        return None
    return StatusReporter(
        target.sink,
        min_interval_s=target.min_interval_s,
        history=target.history,
        last_word=target.last_word,
    )
