"""The control-plane binaries, built and cached by hack/controlplane.sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "controlplane.sh"


class BuildError(RuntimeError):
    """hack/controlplane.sh could not build the binaries (no Go toolchain, no module proxy...)."""


def build_binaries() -> Path:
    """Build what is missing (instant when cached) and return the directory of the binaries."""
    try:
        result = subprocess.run(["bash", str(SCRIPT), "build"], capture_output=True, text=True, check=False)
    except OSError as error:
        raise BuildError(f"cannot run {SCRIPT}: {error}") from error
    if result.returncode != 0:
        raise BuildError(f"{SCRIPT} build exited {result.returncode}:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])
