#!/usr/bin/env bash
# Set up and run the whole test suite: lint, unit, multi-process DDP, integration and
# end-to-end tests (the last two on a real kube-apiserver that hack/controlplane.sh builds).
# Extra arguments go to pytest, e.g. hack/test.sh -k early_stopping
set -euo pipefail
cd "$(dirname "$0")/.."
hack/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# The layers (.importlinter): the shared API below both sides, torch and kopf where they belong.
.venv/bin/lint-imports
# The real control plane for the integration tests: built from Go modules once, then cached.
started=$(date +%s)
hack/controlplane.sh build
echo "test.sh: control-plane binaries ready in $(( $(date +%s) - started ))s"
# The kstatus checker the GitOps tests run (tests/unit/charts/test_gitops_verdicts.py), cached the same way.
started=$(date +%s)
hack/kstatus.sh build
echo "test.sh: kstatus checker ready in $(( $(date +%s) - started ))s"
# The S3-compatible server the object-storage tests use: built once, then cached.
hack/s3server.sh build
# Two test processes, each taking whole files (module fixtures such as Kueue and the chart stay in
# one process; each process starts its own control plane and test node when it first needs them).
# TRAINJOB_TEST_WORKERS=0 runs everything in this process.
workers=${TRAINJOB_TEST_WORKERS:-2}
parallel=()
if [ "$workers" != 0 ]; then
  parallel=(-n "$workers" --dist loadfile)
fi
status=0
.venv/bin/python -m pytest "${parallel[@]}" --durations=30 "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure, not a pass" >&2
  exit 1
fi
exit "$status"
