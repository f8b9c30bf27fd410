"""Status sinks other than the apiserver: a JSON file the local runner reads, and the termination message."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from trainjob_api.final_status import encode_final_status, is_final_status
from trainjob_api.merge import merge


class FileSink:
    """Keeps the merged status in a JSON file, replaced atomically on every write."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.document: dict[str, Any] = {}

    def write(self, fragment: dict[str, Any]) -> None:
        """Merge `fragment` into the document and rewrite the file."""
        self.document = merge(self.document, fragment)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".status-", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump(self.document, handle, sort_keys=True)
        os.replace(temporary, self.path)


def read_status_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The status a `FileSink` wrote, or {} if there is none yet."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


class TerminationMessage:
    """Leaves the final status in the container's termination message (see `trainjob_api.final_status`)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def write(self, fragment: dict[str, Any]) -> None:
        """Put the fragment's final-status message in the file, unless the script left its own there.

        A message the script wrote (a death rattle) says more about a failure than progress does.
        """
        try:
            written = self.path.read_text(errors="replace")
        except FileNotFoundError:
            written = ""
        if written.strip() and not is_final_status(written):
            return
        self.path.write_text(encode_final_status(fragment))
