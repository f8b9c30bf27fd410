"""Checkpoint files: atomic writes, ordering, pruning and loading."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

_NAME = re.compile(r"^ckpt-e(?P<epoch>\d{6})-b(?P<batch>\d{9})\.pt$")


@dataclass(frozen=True, order=True)
class CheckpointFile:
    """One checkpoint on disk; orders by position in the run."""

    epoch: int
    batch: int
    path: Path


class CheckpointStore:
    """A directory of checkpoints named by position (epoch, batch in epoch).

    Writes are atomic (a temporary file in the same directory, fsync, rename), so a worker
    killed mid-write never leaves a truncated checkpoint that a resume would pick up.
    """

    def __init__(self, directory: str | os.PathLike[str], keep_last: int) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be at least 1, got {keep_last}")
        self.directory = Path(directory)
        self.keep_last = keep_last

    def files(self) -> list[CheckpointFile]:
        """The checkpoints present, oldest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            match = _NAME.match(entry.name)
            if match:
                found.append(CheckpointFile(int(match["epoch"]), int(match["batch"]), entry))
        return sorted(found)

    def latest(self) -> CheckpointFile | None:
        """The newest checkpoint, if any."""
        files = self.files()
        return files[-1] if files else None

    def save(self, payload: dict[str, Any], epoch: int, batch: int) -> Path:
        """Write `payload` as the checkpoint for (epoch, batch) and prune old ones."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"ckpt-e{epoch:06d}-b{batch:09d}.pt"
        fd, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(payload, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self._fsync_directory()
        self.prune()
        return target

    def prune(self) -> None:
        """Delete all but the newest `keep_last` checkpoints."""
        for stale in self.files()[: -self.keep_last]:
            stale.path.unlink(missing_ok=True)

    @staticmethod
    def load(path: str | os.PathLike[str], map_location: torch.device | str = "cpu") -> dict[str, Any]:
        """Read a checkpoint written by `save`."""
        return torch.load(path, map_location=map_location, weights_only=False)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
