"""Classify scikit-learn's bundled digits with a tiny BERT built from a config, with the Hugging Face Trainer.

A plain Hugging Face script: it does not import trainjob, and nothing is downloaded (the model is
built from a config; each digit's 64 pixel intensities, 0 to 16, are its tokens). In a TrainJob
transformers' own Kubeflow callback switches itself on and reports the steps, epochs and metrics
to trainjob's node launcher, which writes them into the TrainJob status.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from sklearn.datasets import load_digits
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    EarlyStoppingCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)


class Digits(torch.utils.data.Dataset):
    """Digits as token sequences: one token per pixel (intensity 0 to 16)."""

    def __init__(self, pixels: torch.Tensor, labels: torch.Tensor) -> None:
        self.pixels, self.labels = pixels, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.pixels[index], "labels": self.labels[index]}


def digits_datasets(seed: int = 0) -> tuple[Digits, Digits]:
    """80/20 train/validation split of the 1797 digits."""
    features, labels = load_digits(return_X_y=True)
    pixels = torch.tensor(features, dtype=torch.long)
    targets = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, val = order[:cut], order[cut:]
    return Digits(pixels[train], targets[train]), Digits(pixels[val], targets[val])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=2)
    parser.add_argument("--output", default=os.path.join(tempfile.gettempdir(), "transformers-digits"))
    return parser.parse_args(argv)


def build_trainer(args: argparse.Namespace, callbacks: list[TrainerCallback] | None = None) -> Trainer:
    """The Trainer for these arguments, with early stopping (and any further callbacks)."""
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=17,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=10,
    )
    train, val = digits_datasets()
    return Trainer(
        model=BertForSequenceClassification(config),
        args=TrainingArguments(
            output_dir=args.output,
            num_train_epochs=args.epochs,
            learning_rate=args.lr,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=128,
            eval_strategy="epoch",
            save_strategy="epoch",
            save_total_limit=2,
            metric_for_best_model="eval_loss",
            load_best_model_at_end=True,
            logging_steps=10,
            use_cpu=True,
            report_to="none",
            disable_tqdm=True,
        ),
        train_dataset=train,
        eval_dataset=val,
        callbacks=[EarlyStoppingCallback(early_stopping_patience=args.patience), *(callbacks or [])],
    )


def main(callbacks: list[TrainerCallback] | None = None) -> None:
    trainer = build_trainer(parse_args(), callbacks)
    trainer.train()
    state = trainer.state
    print(f"rank {trainer.args.process_index} done: step {state.global_step}, best {state.best_metric}")


if __name__ == "__main__":
    main()
