"""`trainjob status`'s view of one TrainJob (the command runs against the real control plane in
tests/e2e/test_cli.py)."""

from __future__ import annotations

import datetime

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.cli.describe import describe
from trainjob.cli.render import metrics_text, progress_text
from trainjob.progress_bar import status_bar_update

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


def test_a_failed_job_shows_who_failed_why_and_how_it_ended() -> None:
    job = trainjob(
        phase="Failed",
        startTime="2024-05-01T12:00:00Z",
        completionTime="2024-05-01T12:05:30Z",
        restarts=1,
        earlyStopping={
            "triggered": True,
            "reason": "NoImprovement",
            "message": "val_loss stalled",
            "epoch": 4,
        },
        stoppedOnRequest=True,
        failure={"worker": 1, "pod": "digits-1-x", "exitCode": 137, "reason": "OOMKilled"},
        conditions=[
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "worker 1 died"}
        ],
    )
    lines = describe(job, NOW).splitlines()
    assert "Phase:          Failed" in lines
    assert "Finished:       2024-05-01T12:05:30Z (4m30s ago), ran 5m30s" in lines
    assert "Restarts:       1 (backoffLimit 1)" in lines
    assert any(line.startswith("Progress:       none: the script reported no progress") for line in lines)
    assert "Early stopping: stopped at epoch 4: val_loss stalled" in lines
    assert "Stop:           stopped on request" in lines
    assert "Failure:        worker 1 (pod digits-1-x), exit code 137, OOMKilled" in lines
    assert lines[-1].split() == ["Failed", "True", "BackoffLimitExceeded", "-", "worker", "1", "died"]


def test_a_new_job_shows_what_it_is_and_that_a_stop_was_asked() -> None:
    job = trainjob()
    job["metadata"]["annotations"] = {"trainjob.dev/stop-requested": "true"}
    lines = describe(job, NOW).splitlines()
    assert lines[:4] == [
        "Name:           digits",
        "Namespace:      ml",
        "Phase:          Pending",
        "Workers:        2 node(s) x 1 process(es)",
    ]
    assert any(line.startswith("Stop:           requested (trainjob.dev/stop-requested)") for line in lines)
    assert not any(line.startswith(("Metrics", "Conditions", "Failure")) for line in lines)


def test_progress_and_metrics_say_what_is_known() -> None:
    status = {
        "progress": {"epoch": 2, "totalEpochs": 5, "percent": 40, "samplesPerSecond": 0},
        "metrics": {"loss": 0.5, "valLoss": 0.25, "values": {"val_accuracy": 0.9}},
    }
    assert progress_text(status) == "epoch 2/5, 40.0%, loss 0.5"
    assert metrics_text(status["metrics"]) == "loss 0.5, val_accuracy 0.9, val_loss 0.25"
    assert status_bar_update({}) is None
    assert status_bar_update(status) == {"completed": 40.0, "epoch": "2/5", "loss": "0.5000", "rate": ""}


def test_a_job_whose_script_reports_nothing_says_so_and_how_to_report() -> None:
    assert progress_text({"phase": "Pending"}) == "no progress reported yet"
    running = progress_text({"phase": "Running"})
    assert running.startswith("none reported yet") and "trainjob.report(" in running
    ended = describe(trainjob(phase="Succeeded"), NOW)
    assert "Progress:       none: the script reported no progress" in ended
    assert "Lightning" in ended and "trainjob.report(" in ended


def test_progress_with_steps_only_shows_no_empty_epoch() -> None:
    assert progress_text({"progress": {"step": 40, "totalSteps": 100, "percent": 40}}) == "step 40/100, 40.0%"
    assert progress_text({"progress": {"step": 40}}) == "step 40"
