"""The list's rows and the loss trails behind their sparklines."""

from __future__ import annotations

import re
from importlib import resources

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.dashboard.rows import TRAIL_LENGTH, LossTrail, key_of, row
from trainjob_api.enums import Phase
from trainjob_api.names import STOP_ANNOTATION


def running(epoch: int, loss: float, **more: object) -> dict:
    return trainjob(
        phase="Running",
        restarts=1,
        progress={"epoch": epoch, "totalEpochs": 10, "percent": epoch * 10.0, "etaSeconds": 42.0},
        metrics={"loss": loss},
        **more,
    )


def test_a_row_has_what_the_list_shows() -> None:
    job = running(3, 0.5)
    job["metadata"]["annotations"] = {STOP_ANNOTATION: "true"}
    shown = row(job, [1.0, 0.5])
    assert shown == {
        "key": "ml/digits",
        "name": "digits",
        "namespace": "ml",
        "created": "2024-05-01T12:00:00Z",
        "phase": "Running",
        "finished": False,
        "nodes": 2,
        "epoch": 3,
        "totalEpochs": 10,
        "step": None,
        "percent": 30.0,
        "etaSeconds": 42.0,
        "loss": 0.5,
        "restarts": 1,
        "stopRequested": True,
        "stoppedOnRequest": False,
        "losses": [1.0, 0.5],
    }


def test_a_job_without_status_is_pending_with_nothing_to_show() -> None:
    job = trainjob()
    del job["status"]
    shown = row(job, [])
    assert shown["phase"] == "Pending" and shown["percent"] is None and shown["loss"] is None
    assert not shown["finished"]
    assert key_of(job) == "ml/digits"


def test_a_succeeded_or_failed_job_is_finished() -> None:
    assert row(trainjob(phase="Succeeded"), [])["finished"]
    assert row(trainjob(phase="Failed"), [])["finished"]


def test_the_trail_starts_from_the_history_and_goes_on_with_the_status() -> None:
    trail = LossTrail()
    trail.seed({"epochs": {"loss": {"points": [[1, 2.0], [2, 1.0]]}, "lr": {"points": [[1, 0.1]]}}})
    trail.record(running(2, 0.9))  # the same epoch again: its latest value
    trail.record(running(3, 0.5))
    trail.record(trainjob(phase="Running"))  # nothing reported: nothing added
    assert trail.values() == [2.0, 0.9, 0.5]


def test_the_last_epochs_loss_reported_under_the_next_epoch_is_not_drawn_twice() -> None:
    trail = LossTrail()
    trail.seed({"epochs": {"loss": {"points": [[1, 2.0]]}}})
    trail.record(running(2, 2.0))  # epoch 2 runs; the status still has epoch 1's loss
    trail.record(running(3, 1.0))
    assert trail.values() == [2.0, 1.0]


def test_the_trail_keeps_the_latest_values_only() -> None:
    trail = LossTrail()
    for epoch in range(TRAIL_LENGTH + 15):
        trail.record(running(epoch, float(epoch)))
    assert trail.values() == [float(epoch) for epoch in range(15, TRAIL_LENGTH + 15)]


def test_a_history_without_loss_leaves_the_trail_empty() -> None:
    trail = LossTrail()
    trail.seed({"epochs": {"accuracy": {"points": [[1, 0.5]]}}})
    assert trail.values() == []


def test_the_pages_phase_filter_and_colours_know_every_phase_of_the_api() -> None:
    """The page's phase list (static/dom.js) is a copy of the API's enum: this keeps them equal."""
    script = (resources.files("trainjob.dashboard") / "static" / "dom.js").read_text()
    found = re.search(r"const PHASES = \[([^\]]*)\]", script)
    assert found, "dom.js has no PHASES list"
    assert sorted(re.findall(r'"(\w+)"', found.group(1))) == sorted(phase.value for phase in Phase)
    styles = (resources.files("trainjob.dashboard") / "static" / "style.css").read_text()
    assert all(f".phase-{phase.value.lower()}" in styles for phase in Phase)
