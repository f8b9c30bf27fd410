"""Built-in callbacks and the callback base class."""

from trainjob.callbacks.base import Callback, CallbackList
from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.callbacks.early_stopping import EarlyStopping
from trainjob.callbacks.loss_monitor import LossMonitor
from trainjob.callbacks.lr_adjuster import LRAdjuster
from trainjob.callbacks.progress_monitor import ProgressMonitor
from trainjob.callbacks.status_reporter import StatusReporter

__all__ = [
    "Callback",
    "CallbackList",
    "CheckpointSaver",
    "EarlyStopping",
    "LRAdjuster",
    "LossMonitor",
    "ProgressMonitor",
    "StatusReporter",
]
