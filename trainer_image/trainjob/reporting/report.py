"""The status fields the in-pod reporter owns, built from a trainjob Trainer's state."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.callbacks.early_stopping import EarlyStopping
from trainjob.progress import ProgressTracker
from trainjob.reporting.fields import (
    checkpoint_fields,
    early_stopping_fields,
    metrics_fields,
    progress_fields,
)
from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer


def build_status(
    trainer: Trainer, tracker: ProgressTracker, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """The reporter-owned part of the TrainJob status, shaped as in the CRD."""
    early = trainer.find_callback(EarlyStopping)
    early = early if isinstance(early, EarlyStopping) else None
    status: dict[str, Any] = {
        "progress": progress_fields(tracker.snapshot(trainer.state), now),
        "metrics": metrics_fields(
            trainer.state.metrics,
            monitor=early.monitor if early else None,
            best=early.best if early else None,
            best_epoch=early.best_epoch if early else None,
        ),
    }
    if early is not None:
        status["earlyStopping"] = early_stopping_fields(
            triggered=early.triggered,
            reason=early.reason,
            message=early.message,
            epoch=early.stopped_epoch,
            best=early.best,
            wait=early.wait,
            patience=early.config.patience,
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
        fields.update(checkpoint_fields(saver.latest_path, saver.latest_epoch))
    if saver.resume_message is not None:
        fields.update(
            resumedFrom=saver.resumed_from, resumedEpoch=saver.resumed_epoch, resume=saver.resume_message
        )
    if saver.save_error is not None:
        fields["saveError"] = saver.save_error
    return fields
