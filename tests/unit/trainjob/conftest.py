"""In-process, single-process trainers on tiny data, for fast tests of the loop and callbacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from trainjob import Trainer, TrainerConfig, seed_everything
from trainjob_api.contract import WorkerEnvironment


def regression_data(size: int = 64, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(size, 4, generator=generator)
    return TensorDataset(inputs, inputs.sum(dim=1, keepdim=True))


@pytest.fixture
def make_trainer() -> Callable[..., Trainer]:
    def make(
        config: TrainerConfig | None = None,
        *,
        lr: float = 0.05,
        environ: dict[str, str] | None = None,
        **options: Any,
    ) -> Trainer:
        seed_everything(0)
        options.setdefault("val_data", regression_data(32, seed=1))
        options.setdefault("default_callbacks", False)
        return Trainer(
            nn.Linear(4, 1),
            lambda params: torch.optim.SGD(params, lr=lr),
            regression_data(),
            loss_fn=nn.MSELoss(),
            config=config or TrainerConfig(max_epochs=3, batch_size=8),
            environment=WorkerEnvironment.from_environ(environ or {}),
            **options,
        )

    return make
