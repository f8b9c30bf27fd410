"""CheckpointSaver: periodic, atomic, rank-0 checkpoints that a restarted run resumes from."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from trainjob.callbacks.base import Callback
from trainjob.checkpointing import CheckpointFile, CheckpointStore, LoadedCheckpoint
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

    At the start rank 0 removes what interrupted saves left, skips a newest checkpoint that
    cannot be read (using the one before it) and records which one it resumed from, or that
    it found none (`resume_message`, reported in the status); then it prunes what an attempt
    stopped between a save and its pruning left beyond `keep_last`. A save that fails raises
    `CheckpointSaveFailed`: the worker exits non-zero with the reason in `save_error` (and in
    the status), so the group restarts from the last good checkpoint while the budget allows,
    rather than training on with nothing a restart could resume from.
    """

    def __init__(self, config: CheckpointConfig | None = None, **options: Any) -> None:
        self.config = config or CheckpointConfig(**options)
        if self.config.every_epochs < 1:
            raise ValueError(f"checkpoint every_epochs must be at least 1, got {self.config.every_epochs}")
        self.store = CheckpointStore(self.config.path, self.config.keep_last)
        self.latest_path: str | None = None
        self.latest_epoch: int | None = None
        self.resumed_from: str | None = None
        self.resumed_epoch: int | None = None
        self.resume_message: str | None = None
        self.save_error: str | None = None

    @property
    def resume(self) -> bool:
        """Whether `fit` should resume from the newest checkpoint."""
        return self.config.resume

    def open_for_resume(self) -> LoadedCheckpoint | None:
        """Rank 0's start: clear interrupted saves, then the newest readable checkpoint (if resuming).

        Pruning to `keep_last` follows, sparing the checkpoint resumed from. Says on stdout (and
        through `resume_message` in the status) what it resumed from.
        """
        for name in self.store.remove_temporaries():
            log.warning("removed %s, left by a save that was interrupted", name)
        if not self.resume:
            return None
        loaded = self.store.load_latest()
        if loaded is None:
            self.resumed_from, self.resumed_epoch = "", 0
            self.resume_message = (
                f"no checkpoint in {self.store.location}: training starts from the beginning"
            )
        else:
            self.resumed_from, self.resumed_epoch = loaded.file.path, loaded.file.epoch
            # Until this run saves, the newest checkpoint is the one it resumed from: the status
            # says so, rather than what an earlier attempt last managed to report.
            self.latest_path, self.latest_epoch = loaded.file.path, loaded.file.epoch
            where = f"epoch {loaded.file.epoch}, batch {loaded.file.batch}"
            self.resume_message = f"resumed from {loaded.file.path} ({where})"
            if loaded.skipped:
                self.resume_message += f"; skipped unreadable {', '.join(loaded.skipped)}"
            self._prune_leftovers(loaded.file)
        print(f"checkpoint: {self.resume_message}", flush=True)
        return loaded

    def _prune_leftovers(self, resumed: CheckpointFile) -> None:
        """Delete what an attempt stopped between a save and its pruning left beyond `keep_last`.

        Without this, it would stay for good when this attempt has nothing left to save. The
        checkpoint `resumed` from is never deleted, even when newer ones are unreadable.
        """
        try:
            pruned = self.store.prune(spare=resumed)
        except OSError as error:  # housekeeping: the resume goes on, the next save prunes again
            log.warning("could not prune old checkpoints in %s: %s", self.store.location, error)
            return
        for path in pruned:
            log.info("removed %s: beyond keepLast, left by an interrupted attempt", path)

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """Save when the schedule, the last epoch or an agreed stop says so."""
        stop = trainer.state.stop
        if stop is not None and stop.reason is StopReason.NON_FINITE_LOSS:
            return
        epoch, batch = trainer.resume_position()
        due = batch == 0 and (epoch % self.config.every_epochs == 0 or epoch >= trainer.state.max_epochs)
        if not (due or stop is not None):
            return
        try:
            path = trainer.save_checkpoint(self.store)
        except Exception as error:
            self.save_error = (
                f"saving the checkpoint of epoch {epoch} to {self.store.location} failed: "
                f"{type(error).__name__}: {error}"
            )
            log.error("%s", self.save_error)
            raise CheckpointSaveFailed(self.save_error) from error
        self.latest_epoch = epoch
        if path is not None:
            self.latest_path = path
            log.info("checkpoint written: %s", path)


class CheckpointSaveFailed(RuntimeError):
    """A checkpoint could not be written (disk full, object store refusing, ...): the worker fails."""
