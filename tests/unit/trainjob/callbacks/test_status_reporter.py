"""StatusReporter: the CR-shaped status, with only the reporter's own fields."""

import json

from trainjob import TrainerConfig
from trainjob.callbacks import (
    CheckpointSaver,
    EarlyStopping,
    StatusReporter,
)
from trainjob.reporting.sinks import FileSink
from trainjob_api.status_fields import REPORTER_FIELDS


def test_status_reporter_writes_the_cr_shaped_status(make_trainer, tmp_path):
    path = tmp_path / "status.json"
    early = EarlyStopping(patience=1, min_delta=100.0)
    saver = CheckpointSaver(path=str(tmp_path / "ckpt"))
    reporter = StatusReporter(FileSink(path), min_interval_s=0.0)
    make_trainer(TrainerConfig(max_epochs=10, batch_size=8), callbacks=[early, saver, reporter]).fit()
    status = json.loads(path.read_text())
    assert status["progress"]["epoch"] == 2 and status["progress"]["totalEpochs"] == 10
    assert status["progress"]["step"] == 16 and status["progress"]["totalSteps"] == 80
    assert status["progress"]["lastUpdateTime"].endswith("Z")
    assert status["earlyStopping"] == {
        "triggered": True,
        "reason": "EarlyStopping",
        "message": early.message,
        "epoch": 2,
        "best": early.best,
        "wait": 1,
        "patience": 1,
    }
    assert status["metrics"]["monitor"] == "val_loss" and status["metrics"]["bestEpoch"] == 1
    assert set(status["metrics"]["values"]) == {"loss", "val_loss", "lr"}
    assert status["checkpoint"]["epoch"] == 2 and status["checkpoint"]["path"].endswith(".pt")
    assert set(status) <= set(REPORTER_FIELDS), "the reporter writes only the fields the chart lets it"
