"""kubectl and helm, the built binaries, run against the control plane's kubeconfig."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class CommandFailed(AssertionError):
    """A command line exited non-zero; the message carries its output."""

    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"{' '.join(result.args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        self.result = result


class Cli:
    """One binary with a fixed environment (KUBECONFIG and the tool's state directories)."""

    def __init__(self, binary: Path, env: Mapping[str, str]) -> None:
        self.binary = binary
        self.env = dict(env)

    def __call__(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the binary with args; raise CommandFailed on a non-zero exit when check is true."""
        result = subprocess.run(
            [str(self.binary), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise CommandFailed(result)
        return result

    def json(self, *args: str) -> Any:
        """Run with `-o json` appended and decode the output."""
        return json.loads(self(*args, "-o", "json").stdout)
