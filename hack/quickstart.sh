#!/usr/bin/env bash
# Set everything up and run the main job: the 2-worker DDP digits TrainJob, locally.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
exec .venv/bin/trainjob run examples/digits-ddp.yaml "$@"
