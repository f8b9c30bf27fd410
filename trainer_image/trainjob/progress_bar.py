"""The one progress bar look, shared by the rank-0 ProgressMonitor and the local runner."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn


def training_bar(console: Console, total: float | None) -> tuple[Progress, TaskID]:
    """A started bar showing epoch, percent, loss, throughput and ETA, and its task.

    Update the task with `completed` and the text fields `epoch`, `loss` and `rate`.
    """
    bar = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )
    task = bar.add_task("train", total=total, epoch="-", loss="-", rate="")
    bar.start()
    return bar, task
