#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv with everything the
# examples and the tests need. Idempotent and quick once uv's cache is warm.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! command -v uv >/dev/null 2>&1; then
  echo "setup: installing uv (a fast pip replacement) from PyPI" >&2
  "$python" -m pip install --quiet --user uv || "$python" -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
if [ ! -x .venv/bin/python ]; then
  uv venv --quiet --python "$python" .venv
fi
uv pip install --quiet --python .venv/bin/python -e '.[test,lightning,transformers]'
