"""Framework integration overhead: step time with and without the Lightning and Hugging Face integrations.

One process, one run: fits alternate between the integration off and on (rounds of each), so
drift on the machine hits both alike; each fit's first epoch warms up and is dropped, and the
figure per setting is the median of its epochs' mean step times. With the integration on, the
status goes to a file at the interval a pod gets (10 s, `TRAINJOB_STATUS_INTERVAL_SECONDS`),
through the same background writer as in a pod.

- Lightning: a plain `lightning.pytorch.Trainer`; "on" is the callback Lightning adds by itself
  through trainjob's entry point (`TRAINJOB_AUTO_CALLBACKS=0` for "off").
- Hugging Face, by hand: `TrainJobCallback` in `callbacks=` (off: not there).
- Hugging Face, no code change: transformers' own `KubeflowCallback` posting to trainjob's
  loopback server (off: `DISABLE_KUBEFLOW_INTEGRATION=TRUE`).

The ratios on / off print last, the largest last of all. Target: at most 1.005 each.

    .venv/bin/python -m benchmarks.integration_overhead [--rounds 3] [--epochs 4] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

BATCH = 128
FEATURES = 64


def dataset(steps: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(steps * BATCH, FEATURES, generator=generator)
    return TensorDataset(inputs, (inputs.sum(dim=1) > 0).long())


def mlp(hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2)
    )


@contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Set (a value) or remove (None) environment variables for the block."""
    saved = {name: os.environ.get(name) for name in variables}
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def lightning_fit(on: bool, epochs: int, steps: int, hidden: int) -> list[float]:
    """One Lightning fit; each epoch's mean seconds per step."""
    import lightning.pytorch as pl

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(hidden)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            loss = nn.functional.cross_entropy(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self._start = time.perf_counter()

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self.times.append((time.perf_counter() - self._start) / steps)

    timer = EpochTimer()
    with environment(TRAINJOB_AUTO_CALLBACKS=None if on else "0"):
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
            callbacks=[timer],
        )
        added = any(type(c).__name__ == "TrainJobCallback" for c in trainer.callbacks)
        assert added == on, "the entry point did not add the callback as expected"
        trainer.fit(Module(), DataLoader(dataset(steps), batch_size=BATCH))
    return timer.times[1:]


def hugging_face_fit(setting: str, epochs: int, steps: int, hidden: int, scratch: Path) -> list[float]:
    """One Hugging Face Trainer run; mean seconds per step of each epoch (off, callback or kubeflow)."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from trainjob.integrations.kubeflow_server import KubeflowProgressServer
    from trainjob.integrations.transformers import TrainJobCallback
    from trainjob.loop_reporting import run_reporter

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(hidden)

        def forward(self, inputs: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"loss": nn.functional.cross_entropy(self.net(inputs), labels)}

    class Rows(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.data = dataset(steps)

        def __len__(self) -> int:
            return len(self.data)

        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            inputs, labels = self.data[index]
            return {"inputs": inputs, "labels": labels}

    class EpochTimer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_epoch_begin(self, *args: object, **kwargs: object) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, *args: object, **kwargs: object) -> None:
            self.times.append((time.perf_counter() - self._start) / steps)

    timer = EpochTimer()
    callbacks: list[TrainerCallback] = [timer, *([TrainJobCallback()] if setting == "callback" else [])]
    server = KubeflowProgressServer(run_reporter()).start() if setting == "kubeflow" else None
    variables = server.environment() if server else {}
    with environment(DISABLE_KUBEFLOW_INTEGRATION=None if server else "TRUE", **variables):
        trainer = Trainer(
            model=Model(),
            args=TrainingArguments(
                output_dir=str(scratch / "hf"),
                num_train_epochs=epochs,
                per_device_train_batch_size=BATCH,
                learning_rate=0.01,
                logging_steps=10,
                save_strategy="no",
                report_to="none",
                use_cpu=True,
                disable_tqdm=True,
                dataloader_num_workers=0,
            ),
            train_dataset=Rows(),
            callbacks=callbacks,
        )
        trainer.train()
    if server is not None:
        server.close()
    return timer.times[1:]


def alternate(name: str, rounds: int, fit: Callable[[bool], list[float]]) -> float:
    """Median step time off and on over `rounds` alternating fits; prints both; returns on / off."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for on in (False, True):
            times[on].extend(fit(on))
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"{name}: off {off * 1e3:.3f} ms/step, on {on * 1e3:.3f} ms/step, ratio {on / off:.4f}", flush=True)
    return on / off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--hidden", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    scratch = Path(tempfile.mkdtemp(prefix="integration-overhead-"))
    os.environ.update(
        TRAINJOB_NAME="bench",
        TRAINJOB_STATUS_FILE=str(scratch / "status.json"),
        TRAINJOB_STATUS_INTERVAL_SECONDS="10",
        HF_HUB_OFFLINE="1",
    )
    epochs, steps, hidden = args.epochs + 1, args.steps, args.hidden
    ratios = {
        "lightning": alternate("lightning", args.rounds, lambda on: lightning_fit(on, epochs, steps, hidden)),
        "transformers callback": alternate(
            "transformers callback",
            args.rounds,
            lambda on: hugging_face_fit("callback" if on else "off", epochs, steps, hidden, scratch),
        ),
        "transformers kubeflow": alternate(
            "transformers kubeflow",
            args.rounds,
            lambda on: hugging_face_fit("kubeflow" if on else "off", epochs, steps, hidden, scratch),
        ),
    }
    for name, ratio in ratios.items():
        print(f"ratio {name} on / off: {ratio:.4f}")
    worst = max(ratios, key=lambda name: ratios[name])
    print(f"largest ratio, {worst} on / off: {max(ratios.values()):.4f}")


if __name__ == "__main__":
    main()
