"""Classify scikit-learn's bundled digits with a Lightning module, under DDP when there are several workers.

A plain Lightning script: it does not import trainjob. In a TrainJob (a pod, or `trainjob run
examples/lightning-digits.yaml`) Lightning adds trainjob's callback by itself (an entry point),
so the TrainJob status shows progress, metrics, this EarlyStopping's state and the checkpoint,
and `trainjob stop` stops every rank at the same step.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def digits_loaders(batch_size: int, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """80/20 train/validation split of the 1797 digits, pixels scaled to [0, 1]."""
    features, labels = load_digits(return_X_y=True)
    inputs = torch.tensor(features, dtype=torch.float32) / 16.0
    targets = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, val = order[:cut], order[cut:]
    return (
        DataLoader(TensorDataset(inputs[train], targets[train]), batch_size=batch_size, shuffle=True),
        DataLoader(TensorDataset(inputs[val], targets[val]), batch_size=256),
    )


class DigitsMLP(pl.LightningModule):
    def __init__(self, lr: float, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
        self.lr = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = nn.functional.cross_entropy(self.net(inputs), targets)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        outputs = self.net(inputs)
        self.log("val_loss", nn.functional.cross_entropy(outputs, targets), sync_dist=True)
        self.log("val_accuracy", (outputs.argmax(dim=1) == targets).float().mean(), sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--min-delta", type=float, default=0.002)
    parser.add_argument("--checkpoints", default=os.path.join(tempfile.gettempdir(), "lightning-digits"))
    args = parser.parse_args()

    pl.seed_everything(0, verbose=False)
    nodes = int(os.environ.get("NNODES", "1"))
    devices = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    train, val = digits_loaders(args.batch_size)
    trainer = pl.Trainer(
        max_epochs=args.max_epochs,
        accelerator="cpu",
        devices=devices,
        num_nodes=nodes,
        strategy="ddp" if nodes * devices > 1 else "auto",
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=args.patience, min_delta=args.min_delta),
            ModelCheckpoint(dirpath=args.checkpoints, monitor="val_loss", save_last=True),
        ],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(DigitsMLP(args.lr), train, val)
    metrics = {name: round(float(value), 4) for name, value in trainer.callback_metrics.items()}
    rank, epochs, step = trainer.global_rank, trainer.current_epoch, trainer.global_step
    print(f"rank {rank} done: {epochs} epochs, step {step}, {metrics}")


if __name__ == "__main__":
    main()
