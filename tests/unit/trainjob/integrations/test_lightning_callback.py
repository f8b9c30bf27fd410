"""The Lightning integration on real Lightning fits (tiny, CPU): what lands in the status, and stops."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

pytest.importorskip("lightning")
import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from tests.unit.trainjob.integrations.environment import Worker, worker_fixture  # noqa: F401
from trainjob.integrations.lightning import TrainJobCallback

warnings.filterwarnings("ignore", ".*does not have many workers.*")


class Regression(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.lr = lr

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = nn.functional.mse_loss(self.layer(inputs), targets)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        inputs, targets = batch
        self.log("val_loss", nn.functional.mse_loss(self.layer(inputs), targets))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(size: int, seed: int) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(size, 4, generator=generator)
    return DataLoader(TensorDataset(inputs, inputs.sum(dim=1, keepdim=True)), batch_size=4)


def fit(tmp_path: Path, lr: float = 0.05, max_epochs: int = 3, callbacks: list | None = None) -> pl.Trainer:
    torch.manual_seed(0)
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=callbacks,
    )
    trainer.fit(Regression(lr), loader(64, 0), loader(16, 1))
    return trainer


def ours(trainer: pl.Trainer) -> list[TrainJobCallback]:
    return [c for c in trainer.callbacks if isinstance(c, TrainJobCallback)]


def test_lightning_adds_the_callback_itself_in_a_trainjob_worker_only(worker: Worker, tmp_path):
    assert ours(fit(tmp_path, max_epochs=1)) == []
    assert not worker.status_file.exists()
    worker.enter(TRAINJOB_AUTO_CALLBACKS="0")
    assert ours(fit(tmp_path, max_epochs=1)) == []
    worker.enter()
    assert len(ours(fit(tmp_path, max_epochs=1))) == 1
    assert worker.status()["progress"]["step"] == 16


def test_a_callback_added_by_hand_is_not_doubled(worker: Worker, tmp_path):
    worker.enter()
    mine = TrainJobCallback()
    trainer = fit(tmp_path, max_epochs=1, callbacks=[mine])
    assert ours(trainer)[0] is mine and len(ours(trainer)) == 2
    assert worker.status()["progress"]["step"] == 16


def test_a_fit_reports_progress_metrics_checkpoint_and_lightnings_early_stopping(worker: Worker, tmp_path):
    worker.enter()
    early = EarlyStopping(monitor="val_loss", patience=2, mode="min")
    trainer = fit(
        tmp_path, lr=0.0, max_epochs=20, callbacks=[early, ModelCheckpoint(dirpath=tmp_path, save_last=True)]
    )
    status = worker.status()
    assert trainer.current_epoch == 3  # lr 0: val_loss never improves after the first epoch
    assert early.stopped_epoch == 2  # 0-based
    assert status["earlyStopping"] == {
        "triggered": True,
        "reason": "EarlyStopping",
        "message": early.stopping_reason_message,
        "epoch": 3,
        "best": pytest.approx(float(early.best_score)),
        "wait": 2,
        "patience": 2,
    }
    assert status["progress"]["epoch"] == 3 and status["progress"]["totalEpochs"] == 20
    assert status["progress"]["step"] == 48 and status["progress"]["totalSteps"] == 320
    assert status["progress"]["percent"] == 15.0
    assert status["metrics"]["valLoss"] == pytest.approx(float(trainer.callback_metrics["val_loss"]))
    assert status["metrics"]["monitor"] == "val_loss"
    assert set(status["metrics"]["values"]) == {"train_loss", "val_loss"}
    assert Path(status["checkpoint"]["path"]).is_file()
    assert "stoppedOnRequest" not in status


def test_a_stop_request_stops_the_fit_at_the_next_check(worker: Worker, tmp_path):
    worker.enter()
    worker.request_stop()
    trainer = fit(tmp_path, max_epochs=5, callbacks=[TrainJobCallback(stop_check_every_n_batches=5)])
    assert trainer.global_step == 5 and trainer.should_stop
    status = worker.status()
    assert status["stoppedOnRequest"] is True and status["progress"]["step"] == 5


def test_the_check_interval_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        TrainJobCallback(stop_check_every_n_batches=0)
