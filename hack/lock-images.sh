#!/usr/bin/env bash
# Pin every Python package the two images install, for Linux, to the versions in this
# checkout's .venv (the versions the tests ran with):
#   operator/requirements.txt       trainjob[operator]: the base install and kopf (no torch)
#   trainer_image/requirements.txt  trainjob[examples,s3]: the base install, the trainer (torch) and
#                                   the examples' packages and s3fs for checkpoints in object storage (no kopf); torch's CUDA runtime
#                                   (nvidia-*, cuda-*, triton) is left to the torch build the
#                                   worker image installs
#   trainer_image/requirements-frameworks.txt  the same and the framework integrations (Lightning,
#                                   Hugging Face Transformers): the worker image's LOCK build argument
# Run it after a dependency changes in pyproject.toml (needs uv and the package index).
set -euo pipefail
cd "$(dirname "$0")/.."

tested=$(mktemp)
trap 'rm -f "$tested"' EXIT
uv pip freeze --quiet --python .venv/bin/python --exclude-editable >"$tested"

lock() { # lock OUTPUT INPUT... : a universal, wheels-only lock, pinned to the tested versions
  local output=$1
  shift
  uv pip compile --quiet --universal --python-version 3.11 --only-binary :all: --no-annotate \
    --constraint "$tested" --custom-compile-command hack/lock-images.sh "$@" |
    sed -E "/^(nvidia-|cuda-|triton==)/d" >"$output"
}

lock operator/requirements.txt pyproject.toml --extra operator
lock trainer_image/requirements.txt pyproject.toml --extra examples --extra s3
lock trainer_image/requirements-frameworks.txt pyproject.toml --extra examples --extra s3 --extra lightning --extra transformers
