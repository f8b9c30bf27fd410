"""The Hugging Face integration on real Trainer runs (a tiny BERT built from a config, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    EarlyStoppingCallback,
    Trainer,
    TrainingArguments,
)

from tests.unit.trainjob.integrations.environment import Worker, worker_fixture  # noqa: F401
from trainjob.integrations.transformers import TrainJobCallback


class Tokens(torch.utils.data.Dataset):
    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 30, (size, 8), generator=generator)
        self.labels = (self.ids.sum(dim=1) % 2).long()

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


def train(tmp_path: Path, callbacks: list, **options) -> Trainer:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    defaults = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 8,
        "num_train_epochs": 4,
        "logging_steps": 2,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "save_strategy": "no",
    }
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=TrainingArguments(**{**defaults, **options}),
        train_dataset=Tokens(64, 0),
        eval_dataset=Tokens(16, 1),
        callbacks=callbacks,
    )
    trainer.train()
    return trainer


def test_logs_steps_evaluations_checkpoints_and_early_stopping_land_in_the_status(worker: Worker, tmp_path):
    worker.enter()
    trainer = train(
        tmp_path,
        [EarlyStoppingCallback(early_stopping_patience=2), TrainJobCallback()],
        learning_rate=0.0,  # eval_loss never improves after the first evaluation
        num_train_epochs=10,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,  # the best and the latest
        metric_for_best_model="eval_loss",
        load_best_model_at_end=True,
    )
    status = worker.status()
    state = trainer.state
    assert state.global_step == 24  # 3 epochs of 8 steps, then patience 2 ran out
    assert status["earlyStopping"] == {
        "triggered": True,
        "reason": "EarlyStopping",
        "message": "eval_loss did not improve for 2 evaluations (patience 2)",
        "epoch": 3,
        "best": pytest.approx(state.best_metric),
        "wait": 2,
        "patience": 2,
    }
    assert status["progress"]["step"] == 24 and status["progress"]["totalSteps"] == 80
    assert status["progress"]["epoch"] == 3 and status["progress"]["totalEpochs"] == 10
    assert status["progress"]["percent"] == 30.0
    assert status["metrics"]["valLoss"] == pytest.approx(state.log_history[-2]["eval_loss"])
    assert {"loss", "learning_rate", "eval_loss"} <= set(status["metrics"]["values"])
    assert (
        status["checkpoint"]["path"].endswith("checkpoint-24") and Path(status["checkpoint"]["path"]).is_dir()
    )
    assert "stoppedOnRequest" not in status


def test_the_wait_grows_and_resets_like_early_stoppings_own_counter(worker: Worker, tmp_path):
    worker.enter()
    early = EarlyStoppingCallback(early_stopping_patience=50)
    train(
        tmp_path,
        [early, TrainJobCallback()],
        learning_rate=0.05,
        num_train_epochs=6,
        eval_strategy="epoch",
        metric_for_best_model="eval_loss",
    )
    status = worker.status()
    assert status["earlyStopping"]["wait"] == early.early_stopping_patience_counter
    assert status["earlyStopping"]["triggered"] is False and status["earlyStopping"]["patience"] == 50


def test_a_stop_request_ends_training_at_the_next_check(worker: Worker, tmp_path):
    worker.enter()
    worker.request_stop()
    trainer = train(tmp_path, [TrainJobCallback(stop_check_every_n_steps=3)])
    assert trainer.state.global_step == 3
    status = worker.status()
    assert status["stoppedOnRequest"] is True and status["progress"]["step"] == 3


def test_outside_a_trainjob_the_callback_reports_nothing(worker: Worker, tmp_path):
    trainer = train(tmp_path, [TrainJobCallback()], num_train_epochs=1)
    assert trainer.state.global_step == 8 and not worker.status_file.exists()
