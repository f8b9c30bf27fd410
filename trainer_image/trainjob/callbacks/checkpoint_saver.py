"""CheckpointSaver: periodic, atomic, rank-0 checkpoints that a restarted run resumes from."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from trainjob.callbacks.base import Callback
from trainjob.checkpointing import CheckpointStore
from trainjob.config import CheckpointConfig
from trainjob.state import StopReason

if TYPE_CHECKING:
    from trainjob.trainer import Trainer

log = logging.getLogger(__name__)


class CheckpointSaver(Callback):
    """Saves the whole run every `every_epochs` epochs, at the last epoch, and on any agreed stop.

    A checkpoint holds the model, optimizer, AMP scaler, every callback's state (LR
    scheduler, early stopping, ...), the position (epoch and batch) and each rank's RNG
    state, so a resumed run continues exactly where this one was. The newest `keep_last`
    are kept. With `resume`, `Trainer.fit` starts from the newest checkpoint found; rank 0
    reads it and sends it to the others, so only node 0 needs to see the directory.
    A stop for a non-finite loss writes nothing, keeping the last good checkpoint.
    """

    def __init__(self, config: CheckpointConfig | None = None, **options: Any) -> None:
        self.config = config or CheckpointConfig(**options)
        if self.config.every_epochs < 1:
            raise ValueError(f"checkpoint every_epochs must be at least 1, got {self.config.every_epochs}")
        self.store = CheckpointStore(self.config.path, self.config.keep_last)
        self.latest_path: str | None = None
        self.latest_epoch: int | None = None

    @property
    def resume(self) -> bool:
        """Whether `fit` should resume from the newest checkpoint."""
        return self.config.resume

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """Save when the schedule, the last epoch or an agreed stop says so."""
        stop = trainer.state.stop
        if stop is not None and stop.reason is StopReason.NON_FINITE_LOSS:
            return
        epoch, batch = trainer.resume_position()
        due = batch == 0 and (epoch % self.config.every_epochs == 0 or epoch >= trainer.state.max_epochs)
        if not (due or stop is not None):
            return
        path = trainer.save_checkpoint(self.store)
        self.latest_epoch = epoch
        if path is not None:
            self.latest_path = path
            log.info("checkpoint written: %s", path)
