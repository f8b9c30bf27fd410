"""The Hugging Face Transformers integration: `TrainJobCallback`, a `TrainerCallback`.

Added by hand (`Trainer(..., callbacks=[TrainJobCallback()])`, after any
`EarlyStoppingCallback`), it reports the trainer's steps and epochs, its logs and evaluations,
the state of `EarlyStoppingCallback`, each checkpoint saved, and turns a stop request into
`control.should_training_stop` on every rank at the same step. With no code change at all, a
script still reports progress and metrics through transformers' own Kubeflow integration,
served inside the pod (see `trainjob.integrations.kubeflow_server`).
"""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from trainjob.integrations import transformers_state as hf
from trainjob.loop_reporting import run_reporter, stop_flag
from trainjob.reporting.agree import any_rank
from trainjob.reporting.run import RunReporter
from trainjob.reporting.stop_flag import StopFlag

#: transformers' prefix of checkpoint directories (`PREFIX_CHECKPOINT_DIR`).
CHECKPOINT_PREFIX = "checkpoint"


class TrainJobCallback(TrainerCallback):
    """Reports a Hugging Face Trainer's run into the TrainJob status; stops every rank on request.

    Rank 0 reports (progress when due, cheap between; every log, evaluation and save); every
    `stop_check_every_n_steps` optimizer steps all ranks agree (one all-reduce, when a
    process group is up) whether the job was asked to stop.
    """

    def __init__(self, stop_check_every_n_steps: int = 10) -> None:
        if stop_check_every_n_steps < 1:
            raise ValueError(f"stop_check_every_n_steps must be at least 1, got {stop_check_every_n_steps}")
        self.stop_check_every_n_steps = stop_check_every_n_steps
        self._reporter: RunReporter | None = None
        self._stop: StopFlag | None = None
        self._early: hf.EarlyStoppingMirror | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Start reporting on rank 0 and say where the run starts."""
        if state.is_world_process_zero:
            self._reporter, self._stop = run_reporter(), stop_flag()
            self._reporter.report(**hf.progress_of(state, args))
        config = hf.early_stopping_config(state)
        if config is not None:
            self._early = hf.EarlyStoppingMirror(
                int(config.get("early_stopping_patience", 1)),
                float(config.get("early_stopping_threshold") or 0.0),
            )

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Report progress when due; every few steps, agree on a stop request."""
        reporter = self._reporter
        if reporter is not None and reporter.due():
            reporter.report(**hf.progress_of(state, args))
        if state.global_step % self.stop_check_every_n_steps == 0:
            local = self._stop is not None and self._stop.is_set()
            if any_rank(local):
                control.should_training_stop = True
                if reporter is not None:
                    reporter.report_stopped_on_request()

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Report the logged values (loss, learning rate, grad norm, ...)."""
        if self._reporter is not None and logs:
            self._reporter.report(metrics=hf.numbers(logs), **hf.progress_of(state, args))

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Report the evaluation and the early-stopping state it leads to."""
        values = hf.numbers(metrics or {})
        monitor = hf.monitored_metric(args)
        if self._early is not None and monitor in values:
            self._early.update(args, state, values[monitor])
        if self._reporter is None:
            return
        self._reporter.report(metrics=values, **hf.progress_of(state, args))
        if self._early is not None and monitor is not None:
            self._report_early_stopping(args, state, monitor, triggered=control.should_training_stop)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Report the checkpoint just saved."""
        if self._reporter is not None:
            path = os.path.join(args.output_dir, f"{CHECKPOINT_PREFIX}-{state.global_step}")
            self._reporter.report(checkpoint=path, **hf.progress_of(state, args))

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Report the end state and wait (bounded) for it to land."""
        if self._reporter is None:
            return
        self._reporter.report(eta_seconds=0.0, **hf.progress_of(state, args))
        self._reporter.close()
        self._reporter = None
        if self._stop is not None:
            self._stop.close()
            self._stop = None

    def _report_early_stopping(
        self, args: TrainingArguments, state: TrainerState, monitor: str, triggered: bool
    ) -> None:
        assert self._reporter is not None and self._early is not None
        early = self._early
        triggered = triggered and early.wait >= early.patience
        self._reporter.report_early_stopping(
            triggered=triggered,
            reason="EarlyStopping" if triggered else None,
            message=(
                f"{monitor} did not improve for {early.wait} evaluations (patience {early.patience})"
                if triggered
                else None
            ),
            epoch=hf.progress_of(state, args)["epoch"] if triggered else None,
            best=early.best,
            wait=early.wait,
            patience=early.patience,
            monitor=monitor,
        )
