"""The transformers digits example with trainjob's TrainJobCallback added by hand, for the e2e tests.

The example stays a plain script (it reports progress and metrics through transformers' own
Kubeflow callback); this worker runs its `main` with the callback, which also carries early
stopping, checkpoints and stop requests. One reporter only: transformers' Kubeflow callback is
switched off here.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from trainjob.integrations.transformers import TrainJobCallback

EXAMPLE = Path(__file__).parents[2] / "examples" / "transformers" / "train.py"

if __name__ == "__main__":
    os.environ["DISABLE_KUBEFLOW_INTEGRATION"] = "TRUE"
    runpy.run_path(str(EXAMPLE), run_name="example")["main"]([TrainJobCallback()])
