"""The status fields the in-pod reporter owns, built from the trainer's state."""

from __future__ import annotations

import datetime
import math
from typing import TYPE_CHECKING, Any

from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.callbacks.early_stopping import EarlyStopping
from trainjob.progress import ProgressTracker
from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

#: Top-level status fields written by the reporter; the operator writes everything else.
REPORTER_FIELDS = ("progress", "metrics", "earlyStopping", "checkpoint", "stoppedOnRequest")


def build_status(
    trainer: Trainer, tracker: ProgressTracker, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The reporter-owned part of the TrainJob status, shaped as in the CRD.

    Non-finite numbers are left out: JSON cannot carry them and a merge patch would read a
    null as a deletion.
    """
    progress = tracker.snapshot(trainer.state)
    timestamp = (now or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status: dict[str, Any] = {
        "progress": _finite(
            {
                "epoch": progress.epoch,
                "totalEpochs": progress.total_epochs,
                "step": progress.step,
                "totalSteps": progress.total_steps,
                "percent": progress.percent,
                "etaSeconds": progress.eta_seconds,
                "samplesPerSecond": progress.samples_per_second,
                "lastUpdateTime": timestamp,
            }
        ),
        "metrics": _metrics(trainer),
    }
    early = trainer.find_callback(EarlyStopping)
    if isinstance(early, EarlyStopping):
        status["earlyStopping"] = _finite(
            {
                "triggered": early.triggered,
                "reason": early.reason,
                "message": early.message,
                "epoch": early.stopped_epoch,
                "best": early.best,
                "wait": early.wait,
                "patience": early.config.patience,
            }
        )
    saver = trainer.find_callback(CheckpointSaver)
    if isinstance(saver, CheckpointSaver):
        checkpoint = _checkpoint(saver)
        if checkpoint:
            status["checkpoint"] = checkpoint
    stop = trainer.state.stop
    if stop is not None and stop.reason is StopReason.STOP_REQUESTED:
        status["stoppedOnRequest"] = True
    return status


def _checkpoint(saver: CheckpointSaver) -> dict[str, Any]:
    """The latest checkpoint written, what this attempt resumed from, and a failed save."""
    fields: dict[str, Any] = {}
    if saver.latest_path is not None:
        fields.update(path=saver.latest_path, epoch=saver.latest_epoch)
    if saver.resume_message is not None:
        fields.update(
            resumedFrom=saver.resumed_from, resumedEpoch=saver.resumed_epoch, resume=saver.resume_message
        )
    if saver.save_error is not None:
        fields["saveError"] = saver.save_error
    return fields


def _metrics(trainer: Trainer) -> dict[str, Any]:
    values = trainer.state.metrics
    metrics: dict[str, Any] = {
        "loss": values.get("loss"),
        "valLoss": values.get("val_loss"),
        "lr": values.get("lr"),
        "values": _finite(dict(values)),
    }
    early = trainer.find_callback(EarlyStopping)
    if isinstance(early, EarlyStopping):
        metrics.update(monitor=early.monitor, best=early.best, bestEpoch=early.best_epoch)
    return _finite(metrics)


def _finite(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in fields.items()
        if value is not None and not (isinstance(value, float) and not math.isfinite(value))
    }
