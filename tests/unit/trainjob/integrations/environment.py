"""A worker environment for in-process integration tests: a TrainJob name, a status file, fresh reporters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import trainjob.loop_reporting as reporting

WORKER_VARIABLES = ("TRAINJOB_NAME", "TRAINJOB_STATUS_FILE", "TRAINJOB_AUTO_CALLBACKS", "RANK", "WORLD_SIZE")


class Worker:
    """The environment of rank 0 of a TrainJob under the local runner, and the status it wrote."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, status_file: Path) -> None:
        self.monkeypatch = monkeypatch
        self.status_file = status_file
        for name in WORKER_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        self.fresh()

    def enter(self, **extra: str) -> None:
        for name in WORKER_VARIABLES:
            self.monkeypatch.delenv(name, raising=False)
        self.monkeypatch.setenv("TRAINJOB_NAME", "unit")
        self.monkeypatch.setenv("TRAINJOB_STATUS_FILE", str(self.status_file))
        self.monkeypatch.setenv("TRAINJOB_STATUS_INTERVAL_SECONDS", "0")
        for name, value in extra.items():
            self.monkeypatch.setenv(name, value)
        self.fresh()

    def fresh(self) -> None:
        """Forget the process-wide reporter and stop flag, so the next use reads the environment."""
        for name, value in (("_reporter", None), ("_stop_flag", None), ("_env", None), ("_env_read", False)):
            self.monkeypatch.setattr(reporting, name, value)

    def request_stop(self) -> None:
        reporting.stop_flag().set()

    def status(self) -> dict:
        return json.loads(self.status_file.read_text())


@pytest.fixture(name="worker")
def worker_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Worker:
    return Worker(monkeypatch, tmp_path / "status.json")
