"""The base install (`pip install trainjob`, no extras): the CLI and the manifest checks, light."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.base_install import REPO, installed_distributions


def run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bin_dir / "trainjob", *args], capture_output=True, text=True, timeout=120, cwd=REPO
    )


def test_the_base_install_has_neither_torch_nor_kopf(base_install: Path) -> None:
    installed = installed_distributions(base_install)
    assert "trainjob" in installed
    assert not installed & {"torch", "kopf", "lightning", "transformers"}, sorted(installed)


def test_the_cli_and_the_manifest_checks_run_without_torch(base_install: Path, tmp_path: Path) -> None:
    assert "usage: trainjob" in run(base_install, "--help").stdout
    assert "--check" in run(base_install, "run", "--help").stdout
    for example in sorted((REPO / "examples").glob("*.yaml")):
        checked = run(base_install, "run", "--check", str(example))
        assert checked.returncode == 0 and "is valid" in checked.stdout, checked.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: trainjob.dev/v1alpha1\nkind: TrainJob\nmetadata: {name: bad}\n"
        "spec: {image: trainer:1, command: [python, train.py], maxEpochs: 1, numNodes: 0}\n"
    )
    refused = run(base_install, "run", "--check", str(bad))
    assert refused.returncode == 2 and "spec.numNodes: must be at least 1" in refused.stderr
