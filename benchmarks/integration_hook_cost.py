"""CPU time the Lightning and Hugging Face integrations add to a training step, between status writes.

On a busy machine wall-clock step ratios swing by more than the target, so this measures the
hooks alone, in process CPU time: the Lightning callback's `on_train_batch_end` and the Hugging
Face callback's `on_step_end`, called as a fit calls them while a report is not due (the
writer started, the next write 10 s away; every 10th call agrees on a stop request). Prints
microseconds per step, and last the ratio (step + hook) / step for a 5 ms step.

    PYTHONPATH=. .venv/bin/python -m benchmarks.integration_hook_cost [--calls 200000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

STEP_S = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    calls = parser.parse_args().calls
    scratch = tempfile.mkdtemp(prefix="hook-cost-")
    os.environ.update(
        TRAINJOB_NAME="bench",
        TRAINJOB_STATUS_FILE=f"{scratch}/status.json",
        TRAINJOB_STATUS_INTERVAL_SECONDS="10",
    )
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from tests.unit.trainjob.integrations.test_lightning_callback import fit
    from trainjob.integrations.lightning import TrainJobCallback as LightningCallback
    from trainjob.integrations.transformers import TrainJobCallback as HuggingFaceCallback

    lightning = LightningCallback()
    trainer = fit(Path(scratch), max_epochs=1, callbacks=[lightning])
    lightning.setup(trainer, None, "fit")  # as at the start of a fit: reporting, writer not yet due
    lightning.on_train_start(trainer, None)
    started = time.process_time()
    for batch in range(calls):
        lightning.on_train_batch_end(trainer, None, None, None, batch)
    lightning_s = (time.process_time() - started) / calls

    hugging_face = HuggingFaceCallback()
    args = TrainingArguments(output_dir=f"{scratch}/hf", use_cpu=True, report_to="none")
    state, control = TrainerState(is_world_process_zero=True, max_steps=calls), TrainerControl()
    hugging_face.on_train_begin(args, state, control)
    started = time.process_time()
    for step in range(calls):
        state.global_step = step
        hugging_face.on_step_end(args, state, control)
    hugging_face_s = (time.process_time() - started) / calls

    print(f"lightning on_train_batch_end: {lightning_s * 1e6:.2f} us per step (CPU time)")
    print(f"hugging face on_step_end: {hugging_face_s * 1e6:.2f} us per step (CPU time)")
    worst = max(lightning_s, hugging_face_s)
    print(f"ratio (step + hook) / step for a {STEP_S * 1e3:.0f} ms step: {(STEP_S + worst) / STEP_S:.5f}")


if __name__ == "__main__":
    main()
