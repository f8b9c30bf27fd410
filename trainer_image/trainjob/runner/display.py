"""What the local runner shows: worker output prefixed by node, and a live progress bar."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.text import Text

from trainjob.progress_bar import status_bar_update, training_bar

StatusSource = Callable[[], dict[str, Any]]


class RunDisplay:
    """Prints worker lines; on a terminal also keeps a progress bar fed from the job's status."""

    def __init__(self, status: StatusSource, stream: IO[str] | None = None, refresh_s: float = 0.5) -> None:
        self._status = status
        self._console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self._refresh_s = refresh_s
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> RunDisplay:
        if self._console.is_terminal:
            self._progress, self._task = training_bar(self._console, total=100.0)
            self._thread = threading.Thread(target=self._refresh_loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._progress is not None:
            self._refresh()
            self._progress.stop()

    def line(self, label: str, text: str) -> None:
        """Show one line of a worker's (or the runner's) output."""
        with self._lock:
            self._console.print(Text.assemble((f"{label:>7} | ", "dim"), text))

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self._refresh_s):
            self._refresh()

    def _refresh(self) -> None:
        assert self._progress is not None and self._task is not None
        update = status_bar_update(self._status())
        if update is not None:
            self._progress.update(self._task, **update)
