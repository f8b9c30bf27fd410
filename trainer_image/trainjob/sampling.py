"""A distributed sampler that can resume in the middle of an epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ShardedSampler(Sampler[int]):
    """Shuffles indices with a per-epoch seed and gives each rank every `world_size`-th one.

    Like `DistributedSampler`, training shards are padded to equal length so that every
    rank runs the same number of steps (DDP needs that); evaluation shards are not padded,
    so averages over them are exact. `set_epoch` must be called every epoch, and
    `skip(n)` drops the first `n` indices of the current epoch for a mid-epoch resume.
    """

    def __init__(
        self, dataset_size: int, rank: int, world_size: int, *, shuffle: bool, seed: int, pad: bool
    ) -> None:
        if dataset_size < 1:
            raise ValueError("the dataset is empty")
        self.dataset_size = dataset_size
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.seed = seed
        self.pad = pad
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of `epoch`; clears any skip."""
        self.epoch = epoch
        self._skip = 0

    def skip(self, count: int) -> None:
        """Leave out the first `count` indices of this rank's shard for the current epoch."""
        self._skip = count

    def _shard(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.dataset_size, generator=generator).tolist()
        else:
            order = list(range(self.dataset_size))
        if self.pad:
            total = -(-self.dataset_size // self.world_size) * self.world_size
            order = (order * -(-total // len(order)))[:total]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._shard()[self._skip :])

    def __len__(self) -> int:
        if self.pad:
            shard = -(-self.dataset_size // self.world_size)
        else:
            shard = len(range(self.rank, self.dataset_size, self.world_size))
        return max(0, shard - self._skip)
