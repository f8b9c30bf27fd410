"""The fit loop: DDP, sampling, AMP, accumulation, clipping, validation, stops and resume."""

from __future__ import annotations

import contextlib
import gc
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from trainjob.callbacks.base import Callback, CallbackList
from trainjob.callbacks.checkpoint_saver import CheckpointSaver
from trainjob.checkpointing import CheckpointStore
from trainjob.config import TrainerConfig
from trainjob.distributed import (
    DistributedContext,
    capture_rng_state,
    restore_rng_state,
    seed_everything,
)
from trainjob.sampling import ShardedSampler
from trainjob.signals import GracefulStop
from trainjob.state import StopReason, StopRequest, TrainerState
from trainjob_api.contract import WorkerEnvironment

log = logging.getLogger(__name__)

OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]
StepFn = Callable[[nn.Module, Any], tuple[torch.Tensor, Any, Any]]
MetricFn = Callable[[Any, Any], torch.Tensor | float]


class TrainingFailed(RuntimeError):
    """Training stopped because it cannot go on (a non-finite loss); the worker should exit non-zero."""


class TrainingInterrupted(SystemExit):
    """A signal (SIGTERM from Kubernetes, Ctrl-C) stopped training after a checkpoint.

    The worker exits with 128 + the signal number, as a killed process would, so that the
    Job controller does not count an evicted or suspended worker as completed.
    """

    def __init__(self, message: str, code: int = 143) -> None:
        super().__init__(code)
        self.message = message


@dataclass(frozen=True)
class FitResult:
    """What `Trainer.fit` achieved."""

    epochs_completed: int
    global_step: int
    metrics: dict[str, float]
    stop: StopRequest | None

    @property
    def stopped_early(self) -> bool:
        """Whether the run ended before `max_epochs` by an agreed stop."""
        return self.stop is not None


class Trainer:
    """Trains a model with PyTorch DDP in whatever world the environment contract describes.

    One process, a local runner's worker, a TrainJob pod or a torchrun child: the trainer
    reads `WorkerEnvironment` and does the rest (process group, device, DDP, sharded
    sampling, AMP, accumulation, clipping, validation averaged across ranks, agreed stops,
    checkpoint resume). Batches are `(inputs, targets)` for `loss_fn`, or anything a custom
    `step_fn(model, batch) -> (loss, outputs, targets)` understands.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | OptimizerFactory,
        train_data: Dataset[Any],
        *,
        loss_fn: Callable[[Any, Any], torch.Tensor] | None = None,
        step_fn: StepFn | None = None,
        val_data: Dataset[Any] | None = None,
        metrics: Mapping[str, MetricFn] | None = None,
        config: TrainerConfig | None = None,
        callbacks: Iterable[Callback] = (),
        default_callbacks: bool = True,
        environment: WorkerEnvironment | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        if (loss_fn is None) == (step_fn is None):
            raise ValueError("give exactly one of loss_fn (for (inputs, targets) batches) or step_fn")
        self.env = environment if environment is not None else WorkerEnvironment.from_environ()
        self.config = (config or TrainerConfig()).with_spec_overrides(self.env.config)
        self.model = model
        self._optimizer_spec = optimizer
        self.optimizer: torch.optim.Optimizer | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.train_data = train_data
        self.val_data = val_data
        self.metric_fns = dict(metrics or {})
        self._step_fn = step_fn or _supervised_step(loss_fn)  # type: ignore[arg-type]
        self._collate_fn = collate_fn
        self.state = TrainerState(max_epochs=self.config.max_epochs)
        self.callbacks = CallbackList()
        self.dist: DistributedContext | None = None
        self._local_stop: StopRequest | None = None
        if default_callbacks:
            from trainjob.callbacks.defaults import default_callbacks as defaults

            for callback in defaults(self.config, self.env):
                self.add_callback(callback)
        for callback in callbacks:
            self.add_callback(callback)

    # -- public API -------------------------------------------------------------------------

    @property
    def rank(self) -> int:
        """This process's global rank."""
        return self.env.rank

    @property
    def world_size(self) -> int:
        """Number of processes training together."""
        return self.env.world_size

    @property
    def is_chief(self) -> bool:
        """Whether this is rank 0, which reports progress and writes checkpoints."""
        return self.env.is_chief

    @property
    def device(self) -> torch.device:
        """The device this rank trains on (valid once `fit` has started)."""
        return self.dist.device if self.dist else torch.device("cpu")

    @property
    def unwrapped_model(self) -> nn.Module:
        """The user's model, without the DDP wrapper."""
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    def add_callback(self, callback: Callback) -> None:
        """Add a callback; hooks run in the order callbacks were added."""
        self.callbacks.append(callback)

    def find_callback(self, kind: type[Callback]) -> Callback | None:
        """The first callback of the given type, if any."""
        return next((callback for callback in self.callbacks if isinstance(callback, kind)), None)

    def request_stop(self, reason: StopReason, message: str) -> None:
        """Ask to stop; all ranks agree at the next check (every few steps and each epoch end).

        Safe to call from a signal handler or another thread: it only records the request.
        """
        current = self._local_stop
        if current is None or reason > current.reason:
            self._local_stop = StopRequest(reason, message)

    def stop_requested_by(self, reason: StopReason) -> bool:
        """Whether this rank has asked to stop for `reason` (agreed or not yet)."""
        return self._local_stop is not None and self._local_stop.reason is reason

    def fit(self) -> FitResult:
        """Train until `max_epochs` or an agreed stop; returns what was reached.

        Raises `TrainingFailed` when training stopped because the loss became non-finite, and
        `TrainingInterrupted` (a `SystemExit` with code 143) after a signal-triggered stop.
        """
        self.dist = DistributedContext.setup(
            self.env, self.config.rendezvous_timeout_s, self.config.collective_timeout_s
        )
        try:
            with GracefulStop(self):
                return self._fit()
        except BaseException as error:
            self.callbacks.call("on_exception", self, error)
            raise
        finally:
            self._leave_group()

    def _leave_group(self) -> None:
        """Drop the DDP wrapper, then leave the process group.

        The wrapper holds the group: kept, the group (with Gloo's threads) would outlive
        `destroy_process_group` and be destroyed during interpreter shutdown, where that can abort
        a finished worker ("terminate called without an active exception"). Without it, leaving
        destroys the group now, while the interpreter is whole.
        """
        if isinstance(self.model, DistributedDataParallel):
            self.model = self.model.module
            gc.collect()  # the wrapper's reducer and hooks may sit in reference cycles
        self.dist.teardown()

    def save_checkpoint(self, store: CheckpointStore) -> str | None:
        """Checkpoint the whole run (collective: every rank calls it; rank 0 writes).

        Returns the path written on rank 0, `None` elsewhere.
        """
        assert self.dist is not None and self.optimizer is not None
        rng_states = self.dist.all_gather_object(capture_rng_state())
        if not self.is_chief:
            return None
        epoch, batch = self.resume_position()
        payload: dict[str, Any] = {
            "version": 1,
            "epoch": epoch,
            "batch": batch,
            "global_step": self.state.global_step,
            "samples_seen": self.state.samples_seen,
            "metrics": dict(self.state.metrics),
            "world_size": self.world_size,
            "model": self.unwrapped_model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng_states,
            "callbacks": self.callbacks.state_dict(),
        }
        self.callbacks.call("on_save_checkpoint", self, payload)
        return str(store.save(payload, epoch, batch))

    def resume_position(self) -> tuple[int, int]:
        """The (epoch, batch) a run resumed from the current state would start at."""
        if self.state.steps_per_epoch and self.state.batch_in_epoch >= self.state.steps_per_epoch:
            return self.state.epoch + 1, 0
        return self.state.epoch, self.state.batch_in_epoch

    # -- the loop ---------------------------------------------------------------------------

    def _fit(self) -> FitResult:
        assert self.dist is not None
        seed_everything(self.config.seed + self.rank)
        self._prepare_model_and_optimizer()
        train_sampler, train_loader = self._train_loader()
        self.state.steps_per_epoch = len(train_loader)
        self._resume_if_configured()
        self.callbacks.call("on_fit_start", self)
        start_epoch, start_batch = self.resume_position()
        for epoch in range(start_epoch, self.config.max_epochs):
            self.state.epoch = epoch
            self.state.batch_in_epoch = start_batch if epoch == start_epoch else 0
            train_sampler.set_epoch(epoch)
            train_sampler.skip(self.state.batch_in_epoch * self.config.batch_size)
            self.state.metrics = {}
            self.callbacks.call("on_epoch_start", self)
            finished = self._train_epoch(train_loader)
            if finished:
                if self.val_data is not None and (epoch + 1) % self.config.val_every_n_epochs == 0:
                    self._validate()
                self.state.metrics["lr"] = self._current_lr()
                self.callbacks.call("on_epoch_end", self)
                self._agree_on_stop()
            self.callbacks.call("on_epoch_complete", self)
            if self.state.stop is not None:
                break
        else:
            self.state.completed = True
        self.callbacks.call("on_fit_end", self)
        # Every rank leaves together: a Gloo rank that tears down while a peer still talks aborts.
        self.dist.barrier()
        stop = self.state.stop
        if stop is not None and stop.reason is StopReason.NON_FINITE_LOSS:
            raise TrainingFailed(stop.message)
        if stop is not None and stop.reason is StopReason.SIGNAL:
            raise TrainingInterrupted(stop.message)
        epochs_completed = self.resume_position()[0]
        return FitResult(epochs_completed, self.state.global_step, dict(self.state.metrics), stop)

    def _train_epoch(self, loader: DataLoader[Any]) -> bool:
        """Run the epoch's remaining batches; False when an agreed stop cut it short."""
        assert self.optimizer is not None and self.dist is not None
        self.model.train()
        config = self.config
        accumulate = config.accumulate_grad_batches
        steps_per_epoch = self.state.steps_per_epoch
        distributed = self.dist.active
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        batches = 0
        autocast = self._autocast_context
        for batch_idx, batch in enumerate(loader, start=self.state.batch_in_epoch):
            self.callbacks.call("on_train_batch_start", self, batch, batch_idx)
            batch = _to_device(batch, self.device)
            steps_optimizer = (batch_idx + 1) % accumulate == 0 or batch_idx + 1 == steps_per_epoch
            sync_context = (
                self.model.no_sync()
                if distributed and not steps_optimizer and isinstance(self.model, DistributedDataParallel)
                else contextlib.nullcontext()
            )
            with sync_context:
                with autocast():
                    loss, _, _ = self._step_fn(self.model, batch)
                scaled = loss / accumulate if accumulate > 1 else loss
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            if steps_optimizer:
                self._optimizer_step()
            detached = loss.detach()
            loss_sum += detached
            batches += 1
            self.state.global_step += 1
            self.state.batch_in_epoch = batch_idx + 1
            self.state.samples_seen += _batch_size(batch) * self.world_size
            self.callbacks.call("on_train_batch_end", self, detached, batch_idx)
            if steps_optimizer and self._should_check_stop() and self._agree_on_stop():
                break
        self.state.metrics["loss"] = self._mean_across_ranks(float(loss_sum), batches)
        return self.state.batch_in_epoch >= steps_per_epoch and self.state.stop is None

    def _optimizer_step(self) -> None:
        assert self.optimizer is not None
        if self.scaler:
            self.scaler.unscale_(self.optimizer)
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip_norm)
        self.callbacks.call("on_before_optimizer_step", self, self.optimizer)
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _should_check_stop(self) -> bool:
        assert self.dist is not None
        if not self.dist.active:
            return self._local_stop is not None
        return self.state.global_step % self.config.stop_check_every_n_steps == 0

    def _agree_on_stop(self) -> bool:
        """Agree with every rank whether to stop (one collective); sets `state.stop`."""
        assert self.dist is not None
        local = self._local_stop
        flags = [0] * len(StopReason)
        if local is not None:
            flags[local.reason] = 1
        agreed = self.dist.all_reduce_max(flags)
        if not any(agreed):
            return False
        reason = StopReason(max(index for index, flag in enumerate(agreed) if flag))
        messages = self.dist.all_gather_object(local.message if local and local.reason is reason else None)
        ranks = [rank for rank, message in enumerate(messages) if message is not None]
        message = str(messages[ranks[0]])
        if self.world_size > 1 and ranks != [0] and ranks != list(range(self.world_size)):
            message = f"{message} (seen by rank {', '.join(map(str, ranks))})"
        self.state.stop = StopRequest(reason, message)
        return True

    # -- validation -------------------------------------------------------------------------

    @torch.no_grad()
    def _validate(self) -> None:
        assert self.val_data is not None and self.dist is not None
        self.callbacks.call("on_validation_start", self)
        model = self.unwrapped_model
        model.eval()
        names = ["val_loss", *(f"val_{name}" for name in self.metric_fns)]
        sums = [0.0] * len(names)
        count = 0
        with self._autocast_context():
            for batch in self._val_loader():
                batch = _to_device(batch, self.device)
                loss, outputs, targets = self._step_fn(model, batch)
                size = _batch_size(batch)
                sums[0] += float(loss) * size
                for index, metric in enumerate(self.metric_fns.values(), start=1):
                    sums[index] += float(metric(outputs, targets)) * size
                count += size
        *totals, total_count = self.dist.all_reduce_sum([*sums, float(count)])
        averages = [total / total_count if total_count else math.nan for total in totals]
        metrics = dict(zip(names, averages, strict=True))
        self.state.metrics.update(metrics)
        model.train()
        self.callbacks.call("on_validation_end", self, metrics)

    # -- setup ------------------------------------------------------------------------------

    def _prepare_model_and_optimizer(self) -> None:
        assert self.dist is not None
        device = self.dist.device
        self.model.to(device)
        if self.dist.active:
            self.model = DistributedDataParallel(
                self.model, device_ids=[device.index] if device.type == "cuda" else None
            )
        spec = self._optimizer_spec
        self.optimizer = (
            spec if isinstance(spec, torch.optim.Optimizer) else spec(self.unwrapped_model.parameters())
        )
        if self.config.precision == "fp16":
            self.scaler = torch.amp.GradScaler(device.type)

    def _autocast_context(self) -> contextlib.AbstractContextManager[Any]:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.config.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_loader(self) -> tuple[ShardedSampler, DataLoader[Any]]:
        sampler = ShardedSampler(
            len(self.train_data),  # type: ignore[arg-type]
            self.rank,
            self.world_size,
            shuffle=True,
            seed=self.config.seed,
            pad=True,
        )
        return sampler, self._loader(self.train_data, sampler, self.config.batch_size)

    def _val_loader(self) -> DataLoader[Any]:
        assert self.val_data is not None
        sampler = ShardedSampler(
            len(self.val_data),  # type: ignore[arg-type]
            self.rank,
            self.world_size,
            shuffle=False,
            seed=self.config.seed,
            pad=False,
        )
        return self._loader(self.val_data, sampler, self.config.val_batch_size or self.config.batch_size)

    def _loader(self, data: Dataset[Any], sampler: ShardedSampler, batch_size: int) -> DataLoader[Any]:
        workers = self.config.num_workers
        return DataLoader(
            data,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            collate_fn=self._collate_fn,
            worker_init_fn=_seed_worker if workers else None,
        )

    def _resume_if_configured(self) -> None:
        assert self.dist is not None and self.optimizer is not None
        saver = self.find_callback(CheckpointSaver)
        if not isinstance(saver, CheckpointSaver):
            return
        loaded = saver.open_for_resume() if self.is_chief else None
        if not saver.resume:
            return
        payload = self.dist.broadcast_object(loaded.payload if loaded else None)
        if payload is None:
            return
        self.unwrapped_model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scaler and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.state.epoch, self.state.batch_in_epoch = payload["epoch"], payload["batch"]
        self.state.global_step = payload["global_step"]
        self.state.samples_seen = payload["samples_seen"]
        self.state.metrics = dict(payload["metrics"])
        self.callbacks.load_state_dict(payload["callbacks"])
        rng = payload["rng"]
        if len(rng) == self.world_size:
            restore_rng_state(rng[self.rank])
        else:
            log.warning(
                "checkpoint was written by %d ranks, now %d: RNG state not restored",
                len(rng),
                self.world_size,
            )
        self.callbacks.call("on_load_checkpoint", self, payload)

    def _current_lr(self) -> float:
        assert self.optimizer is not None
        return float(self.optimizer.param_groups[0]["lr"])

    def _mean_across_ranks(self, total: float, count: int) -> float:
        assert self.dist is not None
        summed_total, summed_count = self.dist.all_reduce_sum([total, float(count)])
        return summed_total / summed_count if summed_count else math.nan


def _supervised_step(loss_fn: Callable[[Any, Any], torch.Tensor]) -> StepFn:
    def step(model: nn.Module, batch: Any) -> tuple[torch.Tensor, Any, Any]:
        inputs, targets = batch
        outputs = model(inputs)
        return loss_fn(outputs, targets), outputs, targets

    return step


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, Mapping):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch


def _batch_size(batch: Any) -> int:
    for item in _leaves(batch):
        if isinstance(item, torch.Tensor) and item.dim() > 0:
            return int(item.shape[0])
    return 1


def _leaves(batch: Any) -> Iterator[Any]:
    if isinstance(batch, (list, tuple)):
        for item in batch:
            yield from _leaves(item)
    elif isinstance(batch, Mapping):
        for item in batch.values():
            yield from _leaves(item)
    else:
        yield batch


def _seed_worker(worker_id: int) -> None:
    seed_everything(torch.initial_seed() % 2**32)
