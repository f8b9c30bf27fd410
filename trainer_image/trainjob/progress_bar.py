"""The one progress bar look, shared by the rank-0 ProgressMonitor, the local runner and `trainjob watch`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def status_bar_update(status: Mapping[str, Any]) -> dict[str, Any] | None:
    """The update of a `training_bar(total=100)` task for a TrainJob status; None before any progress.

    `status` has the shape of the TrainJob's status (the cluster's, or the local runner's).
    """
    progress = status.get("progress") or {}
    if not progress:
        return None
    loss = (status.get("metrics") or {}).get("loss")
    rate = progress.get("samplesPerSecond")
    return {
        "completed": float(progress.get("percent", 0.0)),
        "epoch": f"{progress.get('epoch', '-')}/{progress.get('totalEpochs', '-')}",
        "loss": "-" if loss is None else f"{loss:.4f}",
        "rate": f"{rate:.0f} samples/s" if rate else "",
    }
