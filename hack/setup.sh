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
# The dashboard's browser tests drive Debian's chromium through Playwright (never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium for the dashboard's browser tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium with apt-get; the dashboard's browser tests will fail in CI" >&2
  else
    echo "setup: chromium is missing (apt-get install chromium, as root); the dashboard's browser tests need it" >&2
  fi
fi
