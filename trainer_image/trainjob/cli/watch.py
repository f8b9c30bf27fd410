"""`trainjob watch NAME`: a live progress bar from the TrainJob's status, until the job ends."""

from __future__ import annotations

import argparse
import datetime
import sys
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from trainjob.cli.base import EXIT_FAILED, Commands, add_cluster_options, connect
from trainjob.cli.describe import describe
from trainjob.cli.render import progress_text
from trainjob.client.trainjobs import TrainJob, TrainJobs, is_finished, phase_of
from trainjob_api.enums import Phase

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


def register(commands: Commands) -> None:
    """Add `watch`."""
    watch = commands.add_parser(
        "watch",
        help="follow a TrainJob's progress live until it ends (exit 0 if it succeeded, 1 if it failed)",
    )
    watch.add_argument("name", help="the TrainJob")
    add_cluster_options(watch)
    watch.set_defaults(handler=watch_trainjob)


def watch_trainjob(args: argparse.Namespace) -> int:
    """Show the TrainJob's progress as it changes; when it ends, its status."""
    final = follow_to_end(TrainJobs(connect(args)), args.name)
    return outcome(final)


def follow_to_end(trainjobs: TrainJobs, name: str, stream: IO[str] | None = None) -> TrainJob:
    """Show every change of the TrainJob (one watch on it) until it ends; print and return its last state."""
    out = stream or sys.stdout
    with WatchView(out) as view:
        for trainjob in trainjobs.watch(name):
            view.show(trainjob)
            if is_finished(trainjob):
                break
    print(describe(trainjob, datetime.datetime.now(datetime.UTC)), file=out, flush=True)
    return trainjob


def outcome(trainjob: TrainJob) -> int:
    """The exit code a finished TrainJob stands for: 0 if it succeeded, 1 otherwise."""
    return 0 if phase_of(trainjob) == Phase.SUCCEEDED else EXIT_FAILED


class WatchView:
    """A TrainJob's changes: a live bar on a terminal, else one line per phase or epoch change.

    Phase changes are printed as lines in both cases, with the message of the condition that
    explains them.
    """

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console

        self._console = Console(file=stream, highlight=False, soft_wrap=True)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._phase: str | None = None
        self._epoch: Any = None

    def __enter__(self) -> WatchView:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def show(self, trainjob: TrainJob) -> None:
        """Show this version of the TrainJob if it says something new."""
        from trainjob.progress_bar import status_bar_update, training_bar

        status = trainjob.get("status") or {}
        phase = phase_of(trainjob)
        epoch = (status.get("progress") or {}).get("epoch")
        if phase != self._phase:
            message = _phase_message(status, phase)
            self._console.print(
                f"{trainjob['metadata']['name']}: {phase}" + (f" ({message})" if message else "")
            )
        if self._console.is_terminal:
            update = status_bar_update(status)
            if update is not None:
                if self._bar is None:
                    self._bar, self._task = training_bar(self._console, total=100.0)
                assert self._task is not None
                self._bar.update(self._task, **update)
        elif epoch is not None and (epoch, phase) != (self._epoch, self._phase):
            self._console.print(f"  {progress_text(status)}")
        self._phase, self._epoch = phase, epoch


def _phase_message(status: dict[str, Any], phase: str) -> str:
    """The message of the condition named like the phase (Created, Running, Failed, ...), if true."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == phase and condition.get("status") == "True":
            return str(condition.get("message") or "")
    return ""
