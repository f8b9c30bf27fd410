"""Supervising a group of worker processes: output, first failure, and no orphans."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

LineSink = Callable[[str, str], None]


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL when the supervising process dies."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class ProcessSpec:
    """One process to start: a label for its output, its command and its full environment."""

    label: str
    command: Sequence[str]
    env: Mapping[str, str]
    cwd: str | None = None


@dataclass(frozen=True)
class Exit:
    """How a process ended: its label, exit code (negative: killed by that signal)."""

    label: str
    code: int

    @property
    def reason(self) -> str:
        """Exit code or signal name, as a person would say it."""
        if self.code < 0:
            return f"killed by {signal.Signals(-self.code).name}"
        return f"exit code {self.code}"


class ProcessGroup:
    """Starts processes in their own sessions and watches them as one unit.

    When one fails, or `stop` is called, every other process gets SIGTERM, and SIGKILL once
    `grace_s` has passed. Each child also gets SIGKILL if the supervisor itself dies, so a
    killed runner leaves no orphans. Output lines go to `on_line(label, line)`.
    """

    def __init__(self, specs: Sequence[ProcessSpec], on_line: LineSink, grace_s: float = 30.0) -> None:
        self.specs = list(specs)
        self.grace_s = grace_s
        self._on_line = on_line
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._readers: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        """Start every process."""
        for spec in self.specs:
            process = subprocess.Popen(
                list(spec.command),
                env=dict(spec.env),
                cwd=spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            self._processes[spec.label] = process
            reader = threading.Thread(target=self._pump, args=(spec.label, process), daemon=True)
            reader.start()
            self._readers.append(reader)

    def pids(self) -> dict[str, int]:
        """Process ids by label."""
        return {label: process.pid for label, process in self._processes.items()}

    def wait(self, deadline: float | None = None, poll_s: float = 0.1) -> list[Exit]:
        """Wait for all to exit; on the first failure (or past `deadline`) stop the rest.

        Returns every exit, the first failure first.
        """
        exits: list[Exit] = []
        running = dict(self._processes)
        while running:
            for label, process in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[label]
                exits.append(Exit(label, code))
                if code != 0:
                    self.stop()
            if deadline is not None and time.monotonic() >= deadline and not self._stopping.is_set():
                self.stop()
            if running:
                time.sleep(poll_s)
        for reader in self._readers:
            reader.join(timeout=5.0)
        failures = [exit_ for exit_ in exits if exit_.code != 0]
        return failures[:1] + [exit_ for exit_ in exits if exit_ not in failures[:1]]

    def stop(self) -> None:
        """SIGTERM every running process now and SIGKILL it after the grace period."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self.signal_all(signal.SIGTERM)
        threading.Thread(target=self._kill_after_grace, daemon=True).start()

    @property
    def stopping(self) -> bool:
        """Whether `stop` was called (or a failure triggered it)."""
        return self._stopping.is_set()

    def signal_all(self, signum: int) -> None:
        """Send `signum` to every running process's whole session."""
        for process in self._processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)

    def kill(self) -> None:
        """SIGKILL everything still running, at once."""
        self.signal_all(signal.SIGKILL)

    def _kill_after_grace(self) -> None:
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            if all(process.poll() is not None for process in self._processes.values()):
                return
            time.sleep(0.1)
        self.kill()

    def _pump(self, label: str, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            self._on_line(label, raw.decode(errors="replace").rstrip("\n"))
