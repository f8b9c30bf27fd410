"""Checkpoint files: atomic writes, ordering, pruning, and loading the newest one that reads."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from trainjob.checkpoint_storage import open_storage

log = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-e(?P<epoch>\d{6})-b(?P<batch>\d{9})\.pt$")
#: What every checkpoint written by `Trainer.save_checkpoint` holds.
_REQUIRED_KEYS = ("epoch", "batch", "global_step", "model", "optimizer", "callbacks", "rng")


@dataclass(frozen=True, order=True)
class CheckpointFile:
    """One checkpoint; orders by position in the run."""

    epoch: int
    batch: int
    path: str = field(compare=False)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """The newest checkpoint that could be read, and those newer ones that could not."""

    file: CheckpointFile
    payload: dict[str, Any]
    skipped: tuple[str, ...] = ()


class UnreadableCheckpoint(ValueError):
    """A checkpoint file that is truncated, corrupt, or not a trainjob checkpoint."""


class CheckpointStore:
    """Checkpoints named by position (epoch, batch in epoch), in a directory or under `s3://...`.

    Writes are atomic (see `checkpoint_storage`): a worker killed mid-write never leaves a
    partial checkpoint that a resume would pick up, and `remove_temporaries` clears what such
    a write left in a directory.
    """

    def __init__(self, location: str | os.PathLike[str], keep_last: int) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.location = os.fspath(location)
        self.storage = open_storage(self.location)
        self.keep_last = keep_last

    def files(self) -> list[CheckpointFile]:
        """The checkpoints present, oldest first."""
        found = []
        for name in self.storage.names():
            match = _NAME.match(name)
            if match:
                found.append(
                    CheckpointFile(int(match["epoch"]), int(match["batch"]), self.storage.location(name))
                )
        return sorted(found)

    def latest(self) -> CheckpointFile | None:
        """The newest checkpoint, if any."""
        files = self.files()
        return files[-1] if files else None

    def save(self, payload: dict[str, Any], epoch: int, batch: int) -> str:
        """Write `payload` as the checkpoint for (epoch, batch), prune old ones; where it went."""
        written = self.storage.write(
            f"ckpt-e{epoch:06d}-b{batch:09d}.pt", lambda handle: torch.save(payload, handle)
        )
        self.prune()
        return written

    def prune(self, spare: CheckpointFile | None = None) -> list[str]:
        """Delete all but the newest `keep_last` checkpoints, never `spare`; the paths deleted."""
        deleted = []
        for stale in self.files()[: -self.keep_last]:
            if stale != spare:
                self.storage.delete(_name(stale))
                deleted.append(stale.path)
        return deleted

    def remove_temporaries(self) -> list[str]:
        """Delete the temporary files that interrupted saves left; their names."""
        return self.storage.remove_temporaries()

    def load_latest(self, map_location: torch.device | str = "cpu") -> LoadedCheckpoint | None:
        """The newest checkpoint that reads; newer unreadable ones are skipped with a warning."""
        skipped: list[str] = []
        for candidate in reversed(self.files()):
            try:
                payload = self.read(candidate, map_location)
            except UnreadableCheckpoint as error:
                log.warning("skipping checkpoint %s: %s; trying the one before it", candidate.path, error)
                skipped.append(f"{candidate.path} ({error})")
                continue
            return LoadedCheckpoint(candidate, payload, tuple(skipped))
        if skipped:
            log.warning("no checkpoint in %s could be read: starting from the beginning", self.location)
        return None

    def read(self, file: CheckpointFile, map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """Read one checkpoint of this store; `UnreadableCheckpoint` if it is damaged."""
        try:
            with self.storage.open(_name(file)) as handle:
                payload = torch.load(handle, map_location=map_location, weights_only=False)
        except FileNotFoundError:
            raise
        except Exception as error:  # torch.load fails in many ways on damaged bytes
            raise UnreadableCheckpoint(f"{type(error).__name__}: {error}") from error
        missing = [key for key in _REQUIRED_KEYS if not isinstance(payload, dict) or key not in payload]
        if missing:
            raise UnreadableCheckpoint(f"not a complete trainjob checkpoint (missing {', '.join(missing)})")
        return payload  # type: ignore[no-any-return]

    @staticmethod
    def load(path: str | os.PathLike[str], map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """Read a checkpoint written by `save`, given its path or URL."""
        text = os.fspath(path)
        directory, _, name = text.rpartition("/")
        with open_storage(directory or ".").open(name) as handle:
            return torch.load(handle, map_location=map_location, weights_only=False)  # type: ignore[no-any-return]


def _name(file: CheckpointFile) -> str:
    return file.path.rstrip("/").rsplit("/", 1)[-1]
