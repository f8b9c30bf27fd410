"""A plain PyTorch DDP loop on scikit-learn's digits, launched by torchrun, reporting with one call.

`trainjob.report(...)` each step sends progress and metrics into the TrainJob status (rank 0
only; elsewhere, or outside a TrainJob, it does nothing); the loop's own early stopping is
reported with `trainjob.report_early_stopping(...)`, and `trainjob.stop_requested()` (the same
answer on every rank) ends it on `trainjob stop`.
"""

from __future__ import annotations

import argparse
import importlib
import os

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import trainjob


def digits_datasets(seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """80/20 train/validation split of the 1797 digits, pixels scaled to [0, 1]."""
    features, labels = load_digits(return_X_y=True)
    inputs = torch.tensor(features, dtype=torch.float32) / 16.0
    targets = torch.tensor(labels, dtype=torch.long)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, val = order[:cut], order[cut:]
    return TensorDataset(inputs[train], targets[train]), TensorDataset(inputs[val], targets[val])


def validate(model: nn.Module, data: TensorDataset) -> float:
    """The validation loss, averaged over every rank's share."""
    inputs, targets = data.tensors
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(inputs), targets)
    if dist.is_initialized():
        dist.all_reduce(loss)
        loss /= dist.get_world_size()
    return float(loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--min-delta", type=float, default=0.002)
    args = parser.parse_args()

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # DDP imports torch._dynamo; imported before the group exists, it leaves the group free to
        # be destroyed at the end, so the worker exits cleanly (docs/reliability.md).
        importlib.import_module("torch._dynamo")
        dist.init_process_group("gloo")
    torch.manual_seed(0)
    train, val = digits_datasets()
    sampler = DistributedSampler(train) if dist.is_initialized() else None
    loader = DataLoader(train, batch_size=32, sampler=sampler, shuffle=sampler is None)
    model: nn.Module = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    if dist.is_initialized():
        model = DistributedDataParallel(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    world = dist.get_world_size() if dist.is_initialized() else 1

    best, wait, step, stopped = float("inf"), 0, 0, False
    for epoch in range(1, args.epochs + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for inputs, targets in loader:
            loss = nn.functional.cross_entropy(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            trainjob.report(
                epoch=epoch,
                total_epochs=args.epochs,
                step=step,
                total_steps=args.epochs * len(loader),
                samples=step * 32 * world,
                metrics={"loss": loss.item()},
            )
            if trainjob.stop_requested():
                stopped = True
                break
        if stopped:
            break
        val_loss = validate(model, val)
        if val_loss < best - args.min_delta:
            best, wait = val_loss, 0
        else:
            wait += 1
        done = wait >= args.patience
        trainjob.report(epoch=epoch, metrics={"val_loss": val_loss})
        trainjob.report_early_stopping(
            triggered=done,
            reason="EarlyStopping" if done else None,
            message=f"val_loss did not improve for {wait} epochs" if done else None,
            epoch=epoch if done else None,
            best=best,
            wait=wait,
            patience=args.patience,
            monitor="val_loss",
        )
        if done:
            break
    print(f"rank {os.environ.get('RANK', '0')} done: step {step}, best val_loss {best:.4f}", flush=True)
    del model  # a DDP wrapper still alive would keep the group from being destroyed
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
