"""CheckpointSaver: schedule, keepLast, atomic files, and a round trip that restores everything."""

from pathlib import Path

import pytest
import torch

from trainjob import TrainerConfig
from trainjob.callbacks import (
    CheckpointSaver,
    EarlyStopping,
    LRAdjuster,
)
from trainjob.checkpointing import CheckpointStore


def test_checkpoint_saver_schedule_keep_last_and_atomic_files(make_trainer, tmp_path):
    saver = CheckpointSaver(path=str(tmp_path), every_epochs=2, keep_last=2)
    make_trainer(TrainerConfig(max_epochs=7, batch_size=8), callbacks=[saver]).fit()
    assert [(f.epoch, f.batch) for f in saver.store.files()] == [(6, 0), (7, 0)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [Path(f.path).name for f in saver.store.files()]
    assert saver.latest_epoch == 7 and saver.latest_path.endswith("ckpt-e000007-b000000000.pt")


def test_a_run_resumed_at_its_last_epoch_reports_the_checkpoint_it_resumed_from_as_the_latest(
    make_trainer, tmp_path
):
    # A group restart after the last epoch's save: nothing is left to train, and nothing is saved.
    config = TrainerConfig(max_epochs=2, batch_size=8)
    make_trainer(config, callbacks=[CheckpointSaver(path=str(tmp_path))]).fit()
    saver = CheckpointSaver(path=str(tmp_path))
    result = make_trainer(config, callbacks=[saver]).fit()
    newest = saver.store.latest().path
    assert result.epochs_completed == 2 and [f.epoch for f in saver.store.files()] == [1, 2]
    assert (saver.resumed_from, saver.resumed_epoch) == (newest, 2)
    assert (saver.latest_path, saver.latest_epoch) == (newest, 2)


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
