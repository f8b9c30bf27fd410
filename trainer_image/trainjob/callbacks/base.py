"""The callback protocol: every hook of the fit loop, and the dispatcher that calls them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from trainjob.trainer import Trainer

HOOKS = (
    "on_fit_start",
    "on_epoch_start",
    "on_train_batch_start",
    "on_before_optimizer_step",
    "on_train_batch_end",
    "on_validation_start",
    "on_validation_end",
    "on_epoch_end",
    "on_epoch_complete",
    "on_save_checkpoint",
    "on_load_checkpoint",
    "on_exception",
    "on_fit_end",
)


class Callback:
    """Base class for callbacks; override the hooks you need, in any number of callbacks.

    Order within one epoch: `on_epoch_start`, then per batch `on_train_batch_start`,
    `on_before_optimizer_step` (only on batches that step the optimizer),
    `on_train_batch_end`; then `on_validation_start`/`on_validation_end` when the epoch
    validates; then `on_epoch_end` (decide: request a stop here) and, once the ranks have
    agreed whether to stop, `on_epoch_complete` (act: checkpoint, report). Hooks run on every
    rank; use `trainer.is_chief` for rank-0-only work.

    A callback with state implements `state_dict`/`load_state_dict`; the state is saved in
    every checkpoint under `state_key` and restored on resume.
    """

    @property
    def state_key(self) -> str:
        """The key of this callback's state in a checkpoint; unique per callback instance."""
        return type(self).__qualname__

    def state_dict(self) -> dict[str, Any]:
        """State to save in a checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore state saved by `state_dict`."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Once, after setup and any resume, before the first epoch."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """At the start of each epoch (also a resumed, partly done one)."""

    def on_train_batch_start(self, trainer: Trainer, batch: Any, batch_idx: int) -> None:
        """Before the forward pass of a training batch."""

    def on_before_optimizer_step(self, trainer: Trainer, optimizer: torch.optim.Optimizer) -> None:
        """After backward (and gradient unscaling and clipping), before `optimizer.step()`."""

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        """After a training batch; `loss` is detached and unscaled (call `.item()` sparingly)."""

    def on_validation_start(self, trainer: Trainer) -> None:
        """Before the validation pass of an epoch."""

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """After validation, with metrics averaged across all ranks."""

    def on_epoch_end(self, trainer: Trainer) -> None:
        """After training and validation of an epoch: `trainer.state.metrics` is final.

        Call `trainer.request_stop(...)` here to stop; every rank then stops together.
        """

    def on_epoch_complete(self, trainer: Trainer) -> None:
        """After the ranks agreed whether to stop (`trainer.state.stop`): checkpoint and report."""

    def on_save_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        """A checkpoint is about to be written; add entries to `checkpoint` if needed."""

    def on_load_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        """A checkpoint has been loaded and the trainer restored from it."""

    def on_exception(self, trainer: Trainer, error: BaseException) -> None:
        """The fit loop raised; called before the error propagates."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Once, when fitting ends, normally or by an agreed stop."""


class CallbackList:
    """Calls a hook on every callback that overrides it, in order; cheap on the hot path."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self._callbacks: list[Callback] = []
        self._by_hook: dict[str, list[Any]] = {hook: [] for hook in HOOKS}
        for callback in callbacks:
            self.append(callback)

    def append(self, callback: Callback) -> None:
        """Add a callback; its state key must be unique."""
        if any(existing.state_key == callback.state_key for existing in self._callbacks):
            raise ValueError(
                f"two callbacks share the state key {callback.state_key!r}; override `state_key` on one"
            )
        self._callbacks.append(callback)
        for hook in HOOKS:
            if getattr(type(callback), hook) is not getattr(Callback, hook):
                self._by_hook[hook].append(getattr(callback, hook))

    def __iter__(self) -> Iterator[Callback]:
        return iter(self._callbacks)

    def __len__(self) -> int:
        return len(self._callbacks)

    def call(self, hook: str, *args: Any) -> None:
        """Call `hook(*args)` on each callback that implements it."""
        for method in self._by_hook[hook]:
            method(*args)

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Each callback's state, by state key."""
        return {callback.state_key: callback.state_dict() for callback in self._callbacks}

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        """Restore the callbacks whose state keys appear in `states`."""
        for callback in self._callbacks:
            if callback.state_key in states:
                callback.load_state_dict(states[callback.state_key])
