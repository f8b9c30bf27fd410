"""StatusReporter: the CR-shaped status, with only the reporter's own fields."""

import json

from trainjob import TrainerConfig
from trainjob.callbacks import (
    CheckpointSaver,
    EarlyStopping,
    StatusReporter,
)
from trainjob.reporting.history_recorder import HistoryRecorder
from trainjob.reporting.history_store import FileHistoryStore
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


def test_the_reporter_keeps_a_history_that_a_second_run_continues_and_marks(make_trainer, tmp_path):
    store = FileHistoryStore(tmp_path / "history.json")
    for _ in range(2):
        early = EarlyStopping(patience=1, min_delta=100.0)
        history = HistoryRecorder(store, min_interval_s=0.0)
        reporter = StatusReporter(FileSink(tmp_path / "status.json"), min_interval_s=0.0, history=history)
        make_trainer(TrainerConfig(max_epochs=10, batch_size=8), callbacks=[early, reporter]).fit()
    document = json.loads(store.path.read_text())
    assert set(document["epochs"]) == {"loss", "val_loss", "lr"}
    # each run trains epochs 1 and 2 afresh: the second supersedes the first's points
    assert [x for x, _ in document["epochs"]["val_loss"]["points"]] == [1, 2]
    assert [attempt["attempt"] for attempt in document["attempts"]] == [0, 1]
    assert document["earlyStop"]["epoch"] == 2
    assert document["best"]["metric"] == "val_loss" and document["best"]["epoch"] == 1
    assert document["steps"] == {}, "the trainer reports values only at epoch ends"
