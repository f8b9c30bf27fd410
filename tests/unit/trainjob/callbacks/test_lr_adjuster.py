"""LRAdjuster: per-epoch and per-step schedules, and reduce-on-plateau."""

import pytest
import torch

from trainjob import TrainerConfig
from trainjob.callbacks import (
    LRAdjuster,
)


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
