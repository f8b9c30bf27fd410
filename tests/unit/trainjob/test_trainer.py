import math
import os
import signal

import pytest
import torch

from trainjob import StopReason, TrainerConfig, TrainingFailed
from trainjob.callbacks import Callback, CheckpointSaver, LossMonitor
from trainjob.callbacks.base import HOOKS


class Recorder(Callback):
    """Records every hook call, in order."""

    def __init__(self):
        self.calls: list[str] = []

    def __getattribute__(self, name):
        if name in HOOKS:
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append(name)
        return object.__getattribute__(self, name)


for _hook in HOOKS:
    setattr(Recorder, _hook, lambda self, *args: None)


def test_hooks_run_in_the_documented_order(make_trainer):
    recorder = Recorder()
    trainer = make_trainer(
        TrainerConfig(max_epochs=2, batch_size=32, accumulate_grad_batches=1), callbacks=[recorder]
    )
    trainer.fit()
    epoch = [
        "on_epoch_start",
        "on_train_batch_start",
        "on_before_optimizer_step",
        "on_train_batch_end",
        "on_train_batch_start",
        "on_before_optimizer_step",
        "on_train_batch_end",
        "on_validation_start",
        "on_validation_end",
        "on_epoch_end",
        "on_epoch_complete",
    ]
    assert recorder.calls == ["on_fit_start", *epoch, *epoch, "on_fit_end"]


def test_fit_learns_and_reports_metrics(make_trainer):
    result = make_trainer(TrainerConfig(max_epochs=30, batch_size=8), lr=0.1).fit()
    assert result.epochs_completed == 30 and result.global_step == 30 * 8 and not result.stopped_early
    assert result.metrics["val_loss"] < 1e-3
    assert set(result.metrics) == {"loss", "val_loss", "lr"}


def test_gradient_accumulation_matches_one_larger_batch(make_trainer):
    big = make_trainer(TrainerConfig(max_epochs=2, batch_size=16))
    big.fit()
    small = make_trainer(TrainerConfig(max_epochs=2, batch_size=8, accumulate_grad_batches=2))
    small.fit()
    for a, b in zip(big.model.parameters(), small.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_accumulation_steps_the_optimizer_on_the_last_partial_group(make_trainer):
    class CountSteps(Callback):
        steps = 0

        def on_before_optimizer_step(self, trainer, optimizer):
            CountSteps.steps += 1

    make_trainer(
        TrainerConfig(max_epochs=1, batch_size=8, accumulate_grad_batches=3), callbacks=[CountSteps()]
    ).fit()
    assert CountSteps.steps == 3  # 8 batches: after 3, 6 and the last


def test_gradients_are_clipped_before_the_optimizer_step(make_trainer):
    norms = []

    class Norm(Callback):
        def on_before_optimizer_step(self, trainer, optimizer):
            grads = [p.grad for p in trainer.model.parameters()]
            norms.append(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item()
            )

    make_trainer(
        TrainerConfig(max_epochs=1, batch_size=8, grad_clip_norm=0.01), callbacks=[Norm()], lr=1.0
    ).fit()
    assert max(norms) <= 0.01 + 1e-6


def test_bf16_autocast_trains_on_cpu(make_trainer):
    result = make_trainer(TrainerConfig(max_epochs=10, batch_size=8, precision="bf16"), lr=0.1).fit()
    assert result.metrics["val_loss"] < 0.1


def test_a_non_finite_loss_fails_the_fit_and_keeps_the_last_good_checkpoint(make_trainer, tmp_path):
    class Poison(Callback):
        def on_epoch_start(self, trainer):
            if trainer.state.epoch == 1:
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(math.nan)

    saver = CheckpointSaver(path=str(tmp_path))
    trainer = make_trainer(
        TrainerConfig(max_epochs=3, batch_size=8), callbacks=[Poison(), LossMonitor(2), saver]
    )
    with pytest.raises(TrainingFailed, match="loss became nan at epoch 2, step 10"):
        trainer.fit()
    assert trainer.state.stop.reason is StopReason.NON_FINITE_LOSS
    assert [(f.epoch, f.batch) for f in saver.store.files()] == [(1, 0)]


def test_a_stop_request_mid_epoch_checkpoints_the_exact_position(make_trainer, tmp_path):
    class StopAtStep(Callback):
        def on_train_batch_end(self, trainer, loss, batch_idx):
            if trainer.state.global_step == 11:
                trainer.request_stop(StopReason.STOP_REQUESTED, "stop requested")

    saver = CheckpointSaver(path=str(tmp_path))
    trainer = make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[StopAtStep(), saver])
    result = trainer.fit()
    assert result.stop.reason is StopReason.STOP_REQUESTED and result.global_step == 11
    assert [(f.epoch, f.batch) for f in saver.store.files()] == [(1, 0), (1, 3)]


def test_resume_from_a_mid_epoch_checkpoint_equals_an_uninterrupted_run(make_trainer, tmp_path):
    reference = make_trainer(TrainerConfig(max_epochs=3, batch_size=8))
    reference.fit()

    class StopAtStep(Callback):
        def on_train_batch_end(self, trainer, loss, batch_idx):
            if trainer.state.global_step == 13:
                trainer.request_stop(StopReason.STOP_REQUESTED, "stop")

    make_trainer(
        TrainerConfig(max_epochs=3, batch_size=8),
        callbacks=[StopAtStep(), CheckpointSaver(path=str(tmp_path))],
    ).fit()
    resumed = make_trainer(
        TrainerConfig(max_epochs=3, batch_size=8), callbacks=[CheckpointSaver(path=str(tmp_path))]
    )
    result = resumed.fit()
    assert result.global_step == 24 and result.epochs_completed == 3
    for a, b in zip(reference.model.parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_a_signal_stop_checkpoints_then_exits_143(make_trainer, tmp_path):
    from trainjob import TrainingInterrupted

    class Terminate(Callback):
        def on_train_batch_end(self, trainer, loss, batch_idx):
            if trainer.state.global_step == 3:
                os.kill(os.getpid(), signal.SIGTERM)

    saver = CheckpointSaver(path=str(tmp_path))
    trainer = make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[Terminate(), saver])
    with pytest.raises(TrainingInterrupted) as raised:
        trainer.fit()
    assert raised.value.code == 143 and "SIGTERM" in raised.value.message
    assert [(f.epoch, f.batch) for f in saver.store.files()] == [(0, 3)]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_spec_overrides_from_the_trainjob_config(make_trainer, tmp_path):
    environ = {
        "TRAINJOB_CONFIG": '{"maxEpochs": 2, "earlyStopping": {"monitor": "val_loss", "minDelta": 0.5},'
        f' "checkpoint": {{"path": "{tmp_path}", "keepLast": 1}}}}'
    }
    trainer = make_trainer(
        TrainerConfig(max_epochs=50, batch_size=8), environ=environ, default_callbacks=True
    )
    assert trainer.config.max_epochs == 2
    assert trainer.config.early_stopping.min_delta == 0.5
    assert trainer.config.checkpoint.keep_last == 1
    kinds = [type(c).__name__ for c in trainer.callbacks]
    assert kinds == ["ProgressMonitor", "LossMonitor", "EarlyStopping", "CheckpointSaver"]


def test_exactly_one_of_loss_fn_and_step_fn():
    from trainjob import Trainer

    with pytest.raises(ValueError, match="exactly one"):
        Trainer(torch.nn.Linear(1, 1), lambda p: torch.optim.SGD(p, lr=1), [], default_callbacks=False)


def test_invalid_config_is_refused_early():
    with pytest.raises(ValueError, match="accumulate_grad_batches must be at least 1"):
        TrainerConfig(accumulate_grad_batches=0)
    with pytest.raises(ValueError, match="precision"):
        TrainerConfig(precision="fp8")
