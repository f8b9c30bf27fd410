"""The base install (`pip install trainjob`, no extras): the CLI and the manifest checks, light."""

from __future__ import annotations

import json
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


def test_history_and_the_terminal_plot_run_without_matplotlib(base_install: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    points = {"width": 1, "points": [[1, 0.9], [2, 0.5], [3, 0.4]]}
    document = {"version": 1, "epochs": {"loss": points}, "steps": {}, "attempts": []}
    (run_dir / "history.json").write_text(json.dumps(document))
    assert "0.4" in run(base_install, "history", "--run-dir", str(run_dir)).stdout
    assert "* loss" in run(base_install, "plot", "--run-dir", str(run_dir)).stdout
    refused = run(base_install, "plot", "--run-dir", str(run_dir), "-o", str(tmp_path / "x.png"))
    assert refused.returncode == 2 and "pip install 'trainjob[plot]'" in refused.stderr


def test_the_dashboard_and_its_page_come_with_the_base_install(base_install: Path) -> None:
    assert "--all-namespaces" in run(base_install, "dashboard", "--help").stdout
    static = REPO / "trainer_image" / "trainjob" / "dashboard" / "static"
    names = sorted(path.name for path in static.iterdir())
    assert {"index.html", "app.js", "style.css"} <= set(names)
    script = (
        "import sys; from trainjob.dashboard.server import static_file; "
        "sys.exit(sum(static_file(name) is None for name in sys.argv[1:]))"
    )
    shipped = subprocess.run(
        [base_install / "python", "-c", script, *names], capture_output=True, text=True, timeout=60
    )
    assert shipped.returncode == 0, f"{shipped.returncode} of {names} not in the wheel: {shipped.stderr}"
