"""`trainjob run` as a user runs it: the shipped examples, Ctrl-C, and the printed status."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]


def start(manifest: Path, run_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trainjob.cli", "run", str(manifest), "--run-dir", str(run_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def final_status(output: str) -> dict:
    return yaml.safe_load(output[output.index("status:") :])["status"]


def test_the_digits_example_trains_two_workers_to_a_good_accuracy(tmp_path):
    process = start(REPO / "examples" / "digits-ddp.yaml", tmp_path)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    status = final_status(output)
    assert status["phase"] == "Succeeded" and status["workers"]["succeeded"] == 2
    assert status["progress"]["epoch"] == status["progress"]["totalEpochs"] == 12
    assert status["metrics"]["values"]["val_accuracy"] > 0.93
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert Path(status["checkpoint"]["path"]).is_file()
    assert "node-0 | epoch 1/12" in output


def test_the_early_stopping_example_stops_every_worker_at_the_same_epoch(tmp_path):
    process = start(REPO / "examples" / "digits-early-stopping.yaml", tmp_path)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    status = final_status(output)
    early = status["earlyStopping"]
    assert early["triggered"] is True and early["reason"] == "EarlyStopping"
    assert early["epoch"] < 200 and status["progress"]["epoch"] == early["epoch"]
    assert "did not improve" in early["message"]
    assert {c["type"]: c["status"] for c in status["conditions"]}["EarlyStopped"] == "True"
    assert status["workers"] == {"total": 2, "active": 0, "succeeded": 2, "failed": 0}
    assert f"training history saved to {tmp_path / 'history.json'}" in output
    history = json.loads((tmp_path / "history.json").read_text())
    epochs = [x for x, _ in history["epochs"]["val_loss"]["points"]]
    assert epochs[0] == 1 and epochs[-1] == early["epoch"] and epochs == sorted(set(epochs))
    assert history["earlyStop"]["epoch"] == early["epoch"] and history["attempts"][0]["attempt"] == 0


def test_ctrl_c_stops_every_worker_gracefully(tmp_path):
    process = start(REPO / "examples" / "digits-early-stopping.yaml", tmp_path)
    status_file = tmp_path / "status.json"
    deadline = time.monotonic() + 120
    while not status_file.exists():
        if process.poll() is not None:
            raise AssertionError(f"trainjob run ended before training started:\n{process.communicate()[0]}")
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "asking every worker to stop gracefully" in output
    status = final_status(output)
    assert status["phase"] == "Failed"
    assert {c["type"]: c["reason"] for c in status["conditions"]}["Failed"] == "Interrupted"
    assert list((tmp_path / "checkpoints").glob("ckpt-*.pt")), "the graceful stop wrote no checkpoint"
