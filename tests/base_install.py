"""A fresh virtual environment with only the base install of trainjob (no extras), built once.

What someone gets from `pip install trainjob` on a laptop: the shared API and the CLI, with
neither torch nor kopf.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: uv comes with the test extra, beside this interpreter.
UV = Path(sys.executable).parent / "uv"


def create_base_install(venv: Path) -> Path:
    """Create `venv` with `trainjob` installed from this checkout without extras; its bin/."""
    subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, venv], check=True, timeout=120)
    subprocess.run(
        [UV, "pip", "install", "--quiet", "--python", venv / "bin" / "python", REPO],
        check=True,
        timeout=600,
    )
    return venv / "bin"


def installed_distributions(bin_dir: Path) -> set[str]:
    """The names of the distributions installed in the venv of `bin_dir`, lower case."""
    listed = subprocess.run(
        [UV, "pip", "list", "--format", "freeze", "--python", bin_dir / "python"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return {line.partition("==")[0].lower() for line in listed.splitlines() if line}
