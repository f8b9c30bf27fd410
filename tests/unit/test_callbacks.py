import io
import json
from pathlib import Path

import pytest
import torch

from trainjob import StopReason, TrainerConfig
from trainjob.callbacks import (
    Callback,
    CallbackList,
    CheckpointSaver,
    EarlyStopping,
    LRAdjuster,
    ProgressMonitor,
    StatusReporter,
)
from trainjob.checkpointing import CheckpointStore
from trainjob.status.sinks import FileSink


def decisions(early, values):
    return [early.evaluate(value, epoch) for epoch, value in enumerate(values, start=1)]


def test_early_stopping_waits_patience_epochs_without_improvement():
    early = EarlyStopping(patience=2, min_delta=0.1)
    result = decisions(early, [1.0, 0.8, 0.75, 0.71])
    assert result[:3] == [None, None, None]
    reason, message = result[3]
    assert reason is StopReason.EARLY_STOPPING
    assert "for 2 epochs; best 0.8 at epoch 2" in message
    assert (early.best, early.best_epoch, early.wait) == (0.8, 2, 2)


def test_early_stopping_improvement_resets_patience():
    early = EarlyStopping(patience=2)
    assert decisions(early, [1.0, 1.1, 0.9, 1.2, 0.5, 0.6]) == [None] * 6


def test_patience_zero_stops_at_the_first_epoch_without_improvement():
    early = EarlyStopping(patience=0)
    assert decisions(early, [1.0, 0.9])[1] is None
    assert early.evaluate(0.95, 3)[0] is StopReason.EARLY_STOPPING


def test_mode_max_and_thresholds():
    early = EarlyStopping(
        monitor="val_accuracy", mode="max", patience=5, stopping_threshold=0.95, divergence_threshold=0.1
    )
    assert early.evaluate(0.5, 1) is None
    reason, message = early.evaluate(0.96, 2)
    assert reason is StopReason.STOPPING_THRESHOLD and "reached the stopping threshold 0.95" in message
    assert early.evaluate(0.05, 3)[0] is StopReason.DIVERGENCE


def test_a_non_finite_monitored_value_is_divergence():
    assert EarlyStopping().evaluate(float("nan"), 1)[0] is StopReason.DIVERGENCE


def test_early_stopping_refuses_a_metric_the_run_never_produces(make_trainer):
    trainer = make_trainer(callbacks=[EarlyStopping(monitor="val_accuracy")])
    with pytest.raises(ValueError, match=r"monitors 'val_accuracy'.*choose one of"):
        trainer.fit()


def test_early_stopping_in_a_fit_records_the_agreed_stop(make_trainer):
    early = EarlyStopping(patience=1, min_delta=100.0)
    result = make_trainer(TrainerConfig(max_epochs=10, batch_size=8), callbacks=[early]).fit()
    assert result.stop.reason is StopReason.EARLY_STOPPING and result.epochs_completed == 2
    assert (early.triggered, early.reason, early.stopped_epoch) == (True, "EarlyStopping", 2)


def test_early_stopping_state_round_trips():
    early = EarlyStopping(patience=3)
    decisions(early, [1.0, 2.0])
    restored = EarlyStopping(patience=3)
    restored.load_state_dict(early.state_dict())
    assert (restored.best, restored.best_epoch, restored.wait) == (1.0, 1, 1)


def test_lr_adjuster_steps_per_epoch_and_per_step(make_trainer):
    per_epoch = LRAdjuster(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    trainer = make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[per_epoch], lr=0.8)
    assert trainer.fit().metrics["lr"] == pytest.approx(0.2)  # lr used during epoch 3
    per_step = LRAdjuster(
        lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (1 + step)), interval="step"
    )
    trainer = make_trainer(
        TrainerConfig(max_epochs=1, batch_size=8, accumulate_grad_batches=2), callbacks=[per_step], lr=1.0
    )
    trainer.fit()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1 / 5)  # 4 optimizer steps


def test_reduce_on_plateau_uses_the_monitored_metric(make_trainer):
    plateau = LRAdjuster.reduce_on_plateau(monitor="val_loss", factor=0.5, patience=0, threshold=10.0)
    trainer = make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[plateau], lr=0.1)
    trainer.fit()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**3)  # no epoch counts as better


def test_checkpoint_saver_schedule_keep_last_and_atomic_files(make_trainer, tmp_path):
    saver = CheckpointSaver(path=str(tmp_path), every_epochs=2, keep_last=2)
    make_trainer(TrainerConfig(max_epochs=7, batch_size=8), callbacks=[saver]).fit()
    assert [(f.epoch, f.batch) for f in saver.store.files()] == [(6, 0), (7, 0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(f.path).name for f in saver.store.files()]
    assert saver.latest_epoch == 7 and saver.latest_path.endswith("ckpt-e000007-b000000000.pt")


def test_checkpoint_round_trip_restores_everything(make_trainer, tmp_path):
    scheduler = LRAdjuster(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    early = EarlyStopping(patience=50)
    first = make_trainer(
        TrainerConfig(max_epochs=2, batch_size=8),
        callbacks=[scheduler, early, CheckpointSaver(path=str(tmp_path))],
        lr=0.8,
    )
    first.fit()
    payload = CheckpointStore.load(CheckpointStore(tmp_path, 3).latest().path)
    assert (payload["epoch"], payload["batch"], payload["global_step"], payload["world_size"]) == (
        2,
        0,
        16,
        1,
    )
    assert set(payload["callbacks"]) == {"LRAdjuster", "EarlyStopping", "CheckpointSaver"}

    scheduler2, early2 = (
        LRAdjuster(lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)),
        EarlyStopping(patience=50),
    )
    second = make_trainer(
        TrainerConfig(max_epochs=2, batch_size=8),
        callbacks=[scheduler2, early2, CheckpointSaver(path=str(tmp_path))],
        lr=0.8,
    )
    result = second.fit()
    assert result.global_step == 16 and result.epochs_completed == 2
    assert second.optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    assert (early2.best, early2.best_epoch) == (early.best, early.best_epoch)
    for a, b in zip(first.model.parameters(), second.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_callback_state_keys_must_be_unique():
    with pytest.raises(ValueError, match="share the state key 'EarlyStopping'"):
        CallbackList([EarlyStopping(), EarlyStopping()])


def test_callback_list_calls_only_overridden_hooks():
    class OnlyEpoch(Callback):
        def on_epoch_end(self, trainer):
            trainer.append("end")

    seen: list[str] = []
    callbacks = CallbackList([OnlyEpoch()])
    callbacks.call("on_train_batch_end", seen, None, 0)
    callbacks.call("on_epoch_end", seen)
    assert seen == ["end"]


def test_progress_monitor_prints_one_line_per_epoch_off_a_terminal(make_trainer):
    stream = io.StringIO()
    make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[ProgressMonitor(stream=stream)]).fit()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 50% loss=") and "val_loss=" in lines[0]
    assert lines[1].startswith("epoch 2/2 100%")


def test_progress_monitor_draws_a_bar_on_a_terminal(make_trainer):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[ProgressMonitor(stream=stream)]).fit()
    assert "epoch 2/2" in stream.getvalue() and "100.0%" in stream.getvalue()


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
