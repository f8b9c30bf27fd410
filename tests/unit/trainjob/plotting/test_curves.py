"""What the dashboard's charts draw of a history: the same curves and marks as `trainjob plot`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.unit.trainjob.plotting.test_plot_cli import EARLY_STOP_EPOCH, EPOCHS, RESTART_EPOCH, run_dir
from trainjob.plotting.curves import chart_data


def document(tmp_path: Path) -> dict:
    return json.loads((run_dir(tmp_path, "a") / "history.json").read_text())


def test_the_charts_carry_every_metric_with_the_restart_and_early_stop_marks(tmp_path: Path) -> None:
    charts = chart_data(document(tmp_path))
    assert charts["unit"] == "epoch"
    assert charts["marks"] == [
        {"x": RESTART_EPOCH, "label": "restart 1", "kind": "restart"},
        {"x": EARLY_STOP_EPOCH, "label": "early stop", "kind": "early-stop"},
    ]
    assert sorted(charts["metrics"]) == ["loss", "val_loss"]
    loss = charts["metrics"]["loss"]["points"]
    assert [x for x, _ in loss] == list(range(1, EPOCHS + 1))
    assert loss[0][1] == pytest.approx(math.exp(-1 / 4), rel=1e-5)


def test_the_monitored_metric_rings_its_best_and_the_others_their_lowest_or_highest(tmp_path: Path) -> None:
    doc = document(tmp_path)
    doc["epochs"]["val_accuracy"] = {"points": [[1, 0.5], [2, 0.9], [3, 0.8]]}
    lines = chart_data(doc)["metrics"]
    # val_loss is the monitored metric: the history's own best (its last report, at epoch 12).
    assert lines["val_loss"]["best"] == {
        "x": EPOCHS,
        "y": pytest.approx(math.exp(-EPOCHS / 5) + 0.1, rel=1e-5),
        "kind": "best",
    }
    assert lines["loss"]["best"]["kind"] == "lowest" and lines["loss"]["best"]["x"] == EPOCHS
    assert lines["val_accuracy"]["best"] == {"x": 2, "y": 0.9, "kind": "highest"}


def test_a_malformed_history_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed"):
        chart_data({"epochs": {"loss": {"points": [[1]]}}})
    with pytest.raises(ValueError, match="malformed"):
        chart_data({"epochs": {"loss": "not a series"}})
