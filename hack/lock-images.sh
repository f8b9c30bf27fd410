#!/usr/bin/env bash
# Pin every Python package the two images install, for Linux, to the versions in this
# checkout's .venv (the versions the tests ran with):
#   operator/requirements.txt       the operator's dependencies (no torch)
#   trainer_image/requirements.txt  trainjob[examples,s3]; torch's CUDA runtime (nvidia-*, cuda-*,
#                                   triton) is left to the torch build the worker image installs
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

lock operator/requirements.txt - <<'IN'
kopf
kubernetes
pyyaml
cel-python
IN
lock trainer_image/requirements.txt pyproject.toml --extra examples --extra s3
