"""The one-call API and the RunReporter behind it (and behind the framework integrations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from trainjob.reporting.fields import metrics_fields
from trainjob.reporting.run import RunReporter

REPO = Path(__file__).parents[3]


class Recorder:
    def __init__(self):
        self.written: list[dict] = []
        self.lock = threading.Lock()

    def write(self, fragment):
        with self.lock:
            self.written.append(fragment)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_percent_eta_and_samples_per_second_are_derived_from_steps():
    sink, clock = Recorder(), Clock()
    reporter = RunReporter(sink, min_interval_s=10, clock=clock)
    reporter.report(epoch=1, total_epochs=4, step=0, total_steps=100, samples=0)
    clock.now += 5
    reporter.report(step=25, samples=800, metrics={"loss": 0.5, "eval_loss": 0.7, "learning_rate": 0.1})
    fragment = reporter.fragment()
    assert fragment["progress"] | {"lastUpdateTime": None} == {
        "epoch": 1,
        "totalEpochs": 4,
        "step": 25,
        "totalSteps": 100,
        "percent": 25.0,
        "etaSeconds": 15.0,
        "samplesPerSecond": 160.0,
        "lastUpdateTime": None,
    }
    assert fragment["metrics"]["loss"] == 0.5 and fragment["metrics"]["valLoss"] == 0.7
    assert fragment["metrics"]["lr"] == 0.1
    assert reporter.close(5)
    assert sink.written[-1]["progress"]["step"] == 25


def test_epochs_alone_give_percent_and_eta():
    clock = Clock()
    reporter = RunReporter(Recorder(), min_interval_s=10, clock=clock)
    reporter.report(epoch=0, total_epochs=10)
    clock.now += 30
    reporter.report(epoch=3)
    progress = reporter.fragment()["progress"]
    assert progress["percent"] == 30.0 and progress["etaSeconds"] == 70.0
    assert "totalSteps" not in progress and "samplesPerSecond" not in progress
    reporter.close(5)


def test_calls_between_intervals_only_record_but_a_new_epoch_or_a_checkpoint_is_sent_at_once():
    sink, clock = Recorder(), Clock()
    reporter = RunReporter(sink, min_interval_s=10, clock=clock)
    reporter.report(epoch=1, step=1)
    for step in range(2, 50):
        clock.now += 0.01
        reporter.report(epoch=1, step=step)
    reporter.writer.flush(5)
    assert [w["progress"]["step"] for w in sink.written] == [1]
    reporter.report(epoch=2, step=50)
    reporter.writer.flush(5)
    reporter.report(step=51, checkpoint="/ckpt/epoch-2.pt")
    reporter.close(5)
    steps = [w["progress"]["step"] for w in sink.written]
    assert steps[-1] == 51 and 50 in steps
    assert sink.written[-1]["checkpoint"] == {"path": "/ckpt/epoch-2.pt", "epoch": 2}


def test_early_stopping_and_stop_on_request_land_in_their_fields():
    sink = Recorder()
    reporter = RunReporter(sink, min_interval_s=10)
    reporter.report(epoch=3, metrics={"val_loss": 0.4})
    reporter.report_early_stopping(
        triggered=True,
        reason="EarlyStopping",
        epoch=3,
        best=0.3,
        wait=2,
        patience=2,
        monitor="val_loss",
        best_epoch=1,
    )
    reporter.report_stopped_on_request()
    reporter.close(5)
    last = sink.written[-1]
    assert last["earlyStopping"] == {
        "triggered": True,
        "reason": "EarlyStopping",
        "epoch": 3,
        "best": 0.3,
        "wait": 2,
        "patience": 2,
    }
    assert last["metrics"]["monitor"] == "val_loss" and last["metrics"]["bestEpoch"] == 1
    assert last["stoppedOnRequest"] is True


def test_without_a_sink_nothing_is_started():
    reporter = RunReporter(None, 0.0)
    reporter.report(step=1, metrics={"loss": 1.0})
    reporter.report_early_stopping(triggered=True)
    assert not reporter.active and reporter.writer is None and reporter.close() is True


def test_metrics_fields_keep_numbers_only_and_drop_non_finite():
    fields = metrics_fields({"loss": float("nan"), "acc": 0.5, "flag": True, "name": "x", "step": 3})
    assert fields == {"values": {"acc": 0.5, "step": 3.0}}


def run_script(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(("TRAINJOB_", "RANK"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


SCRIPT = """
    import sys
    import trainjob
    for step in range(1, 31):
        trainjob.report(epoch=1 + step // 10, total_epochs=3, step=step, total_steps=30,
                        metrics={"loss": 1.0 / step})
        assert trainjob.stop_requested() is False
    print("torch" in sys.modules)
"""


def test_a_plain_process_outside_any_trainjob_does_nothing_and_raises_nothing():
    done = run_script(SCRIPT, {})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False", "the one-call API must not import torch"
    assert done.stderr == ""


def test_rank_zero_writes_the_local_runner_status_file_and_flushes_at_exit(tmp_path):
    status_file = tmp_path / "status.json"
    done = run_script(SCRIPT, {"TRAINJOB_STATUS_FILE": str(status_file), "TRAINJOB_NAME": "plain"})
    assert done.returncode == 0, done.stderr
    status = json.loads(status_file.read_text())
    assert status["progress"]["step"] == 30 and status["progress"]["percent"] == 100.0
    assert status["progress"]["epoch"] == 4 and status["progress"]["totalEpochs"] == 3
    assert status["metrics"]["loss"] == pytest.approx(1 / 30)


def test_other_ranks_write_nothing(tmp_path):
    status_file = tmp_path / "status.json"
    env = {"TRAINJOB_STATUS_FILE": str(status_file), "TRAINJOB_NAME": "plain", "RANK": "1", "WORLD_SIZE": "2"}
    done = run_script(SCRIPT, env)
    assert done.returncode == 0, done.stderr
    assert not status_file.exists()


def test_a_broken_contract_is_said_once_and_training_goes_on():
    done = run_script(SCRIPT, {"TRAINJOB_NAME": "plain", "RANK": "5", "WORLD_SIZE": "2"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("not reporting") == 1 and "RANK=5" in done.stderr
