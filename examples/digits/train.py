"""Classify scikit-learn's bundled 8x8 digits with a small MLP, under DDP when there are several workers.

Run it as a TrainJob (`trainjob run examples/digits-ddp.yaml`), under torchrun, or alone.
The TrainJob's `maxEpochs`, `earlyStopping` and `checkpoint` override the defaults below.
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import TensorDataset

from trainjob import Trainer, TrainerConfig, seed_everything
from trainjob.callbacks import LRAdjuster


def digits_datasets(seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """80/20 train/validation split of the 1797 digits, pixels scaled to [0, 1]."""
    features, labels = load_digits(return_X_y=True)
    inputs = torch.tensor(features, dtype=torch.float32) / 16.0
    targets = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, val = order[:cut], order[cut:]
    return TensorDataset(inputs[train], targets[train]), TensorDataset(inputs[val], targets[val])


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of correct predictions in a batch."""
    return (outputs.argmax(dim=1) == targets).float().mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    args = parser.parse_args()

    seed_everything(0)
    train_data, val_data = digits_datasets()
    model = nn.Sequential(nn.Linear(64, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))
    trainer = Trainer(
        model,
        lambda params: torch.optim.SGD(params, lr=args.lr, momentum=0.9),
        train_data,
        loss_fn=nn.CrossEntropyLoss(),
        val_data=val_data,
        metrics={"accuracy": accuracy},
        config=TrainerConfig(max_epochs=15, batch_size=args.batch_size),
        callbacks=[LRAdjuster.reduce_on_plateau(monitor="val_loss", factor=0.5, patience=2)],
    )
    result = trainer.fit()
    accuracy_pct = 100 * result.metrics.get("val_accuracy", float("nan"))
    stop = f"stopped: {result.stop.message}" if result.stop else "ran every epoch"
    print(
        f"rank {trainer.rank} done: {result.epochs_completed} epochs, step {result.global_step}, "
        f"val_accuracy {accuracy_pct:.1f}%, {stop}",
        flush=True,
    )


if __name__ == "__main__":
    main()
