"""EarlyStopping: patience, thresholds, divergence, the agreed stop and its state."""

import pytest

from trainjob import StopReason, TrainerConfig
from trainjob.callbacks import (
    EarlyStopping,
)


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
