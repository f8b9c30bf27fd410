"""`trainjob history` and `trainjob plot` on local run dirs: table, terminal plot, PNG and SVG."""

from __future__ import annotations

import json
import math
import struct
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from trainjob.cli import main
from trainjob.plotting.curves import loss_summary, sparkline
from trainjob.reporting.history import History

EPOCHS = 12
RESTART_EPOCH = 5
EARLY_STOP_EPOCH = 11


def run_dir(tmp_path: Path, name: str, scale: float = 1.0) -> Path:
    """A run dir whose history has a restart at epoch 5 and an early stop at epoch 11."""
    history = History()
    history.begin_attempt()
    for epoch in range(1, EPOCHS + 1):
        if epoch == RESTART_EPOCH:
            history = History.from_json(history.to_json())
            history.begin_attempt()
        values = {"loss": scale * math.exp(-epoch / 4), "val_loss": scale * (math.exp(-epoch / 5) + 0.1)}
        fragment = {
            "progress": {"epoch": epoch, "step": 10 * epoch},
            "metrics": {
                "values": values,
                "monitor": "val_loss",
                "best": values["val_loss"],
                "bestEpoch": epoch,
            },
            "earlyStopping": {
                "triggered": epoch == EARLY_STOP_EPOCH,
                "epoch": epoch,
                "reason": "EarlyStopping",
            },
        }
        history.ingest(fragment, epoch_end=True)
    directory = tmp_path / name
    directory.mkdir()
    (directory / "history.json").write_text(history.to_json())
    return directory


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png_of_the_requested_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "curves.png"
    assert main(["plot", "--run-dir", str(run_dir(tmp_path, "a")), "-o", str(out), "--size", "640x400"]) == 0
    assert png_size(out) == (640, 400)
    assert "2 curves" in capsys.readouterr().out


def test_an_svg_holds_every_curve_with_its_points_and_the_marks(tmp_path: Path) -> None:
    out = tmp_path / "compare.svg"
    first, second = run_dir(tmp_path, "a"), run_dir(tmp_path, "b", scale=2.0)
    assert (
        main(
            [
                "plot",
                "--run-dir",
                str(first),
                "--run-dir",
                str(second),
                "--metric",
                "val_loss",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    groups = {g.get("id"): g for g in ElementTree.parse(out).iter("{http://www.w3.org/2000/svg}g")}
    curves = sorted(gid for gid in groups if gid and gid.startswith("curve:"))
    assert curves == [f"curve:{first}: val_loss", f"curve:{second}: val_loss"]
    for gid in curves:
        path = next(groups[gid].iter("{http://www.w3.org/2000/svg}path"))  # the line; then its markers
        assert path.get("d").count("L") == EPOCHS - 1, "one vertex per epoch"
    assert {"restart", "early-stop", "best"} <= set(groups)


def test_plot_draws_in_the_terminal_without_an_output_file(tmp_path: Path, capsys) -> None:
    assert main(["plot", "--run-dir", str(run_dir(tmp_path, "a"))]) == 0
    drawing = capsys.readouterr().out
    assert "* loss" in drawing and "o val_loss" in drawing
    assert drawing.count("*") > EPOCHS // 2 and ":" in drawing and "|" in drawing and "B" in drawing


def test_an_unknown_metric_and_a_bad_file_type_are_refused(tmp_path: Path, capsys) -> None:
    directory = str(run_dir(tmp_path, "a"))
    assert main(["plot", "--run-dir", directory, "--metric", "acc"]) == 2
    assert "no metric acc in the history (it has: loss, val_loss)" in capsys.readouterr().err
    assert main(["plot", "--run-dir", directory, "-o", str(tmp_path / "x.jpg")]) == 2
    assert "PNG or SVG" in capsys.readouterr().err


def test_history_prints_a_table_csv_and_json(tmp_path: Path, capsys) -> None:
    directory = str(run_dir(tmp_path, "a"))
    assert main(["history", "--run-dir", directory, "-o", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "epoch,attempt,loss,val_loss"
    assert len(lines) == 1 + EPOCHS
    assert lines[RESTART_EPOCH - 1].split(",")[1] == "0" and lines[RESTART_EPOCH].split(",")[1] == "1"
    assert main(["history", "--run-dir", directory]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["EPOCH", "ATTEMPT", "LOSS", "VAL_LOSS"]
    assert main(["history", "--run-dir", directory, "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["earlyStop"]["epoch"] == EARLY_STOP_EPOCH


def test_the_status_sparkline_follows_the_loss() -> None:
    assert sparkline([3.0, 2.0, 1.0, 1.0]) == "█▅▁▁"
    document = json.loads((run_dir_history_text := History()).to_json())
    assert loss_summary(document) is None
    run_dir_history_text.ingest(
        {"progress": {"epoch": 1}, "metrics": {"values": {"loss": 2.0}}}, epoch_end=True
    )
    run_dir_history_text.ingest(
        {"progress": {"epoch": 2}, "metrics": {"values": {"loss": 1.0}}}, epoch_end=True
    )
    assert loss_summary(run_dir_history_text.to_dict()) == "█▁ 2 -> 1 (lowest 1 at epoch 2)"
