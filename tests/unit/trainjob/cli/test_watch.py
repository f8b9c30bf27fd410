"""`trainjob watch`'s view, on and off a terminal."""

from __future__ import annotations

import datetime
import io

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.cli.watch import WatchView

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def job_at(phase: str, epoch: int | None, message: str = "") -> dict:
    status: dict = {"phase": phase}
    if message:
        status["conditions"] = [{"type": phase, "status": "True", "message": message}]
    if epoch is not None:
        status["progress"] = {"epoch": epoch, "totalEpochs": 2, "percent": 50.0 * epoch}
        status["metrics"] = {"loss": 1.0 / epoch}
    return trainjob(**status)


def test_off_a_terminal_the_watch_prints_a_line_per_phase_and_epoch() -> None:
    out = io.StringIO()
    with WatchView(out) as view:
        for job in (
            job_at("Created", None, "made"),
            job_at("Running", 1),
            job_at("Running", 1),
            job_at("Running", 2),
        ):
            view.show(job)
        view.show(job_at("Succeeded", 2, "all done"))
    assert out.getvalue().splitlines() == [
        "digits: Created (made)",
        "digits: Running",
        "  epoch 1/2, 50.0%, loss 1",
        "  epoch 2/2, 100.0%, loss 0.5",
        "digits: Succeeded (all done)",
        "  epoch 2/2, 100.0%, loss 0.5",
    ]


def test_on_a_terminal_the_watch_draws_the_training_bar() -> None:
    out = Terminal()
    with WatchView(out) as view:
        view.show(job_at("Running", 1))
        view.show(job_at("Running", 2))
    text = out.getvalue()
    assert "digits: Running" in text
    assert "epoch 2/2" in text and "100.0%" in text and "loss 0.5000" in text
