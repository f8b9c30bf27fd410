"""The corpus of invalid and hostile TrainJob manifests (`tests/data/bad-manifests/`) and their outcomes.

Each file is one manifest, as a user would `kubectl apply` it, headed by comment lines (see the
corpus's README.md): what is wrong with it, then `# key: value` lines with the expected outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CORPUS = Path(__file__).parent / "data" / "bad-manifests"


class Outcome(enum.StrEnum):
    """What a manifest must end in."""

    #: `kubectl apply` refuses it; the output contains every `message`.
    REJECTED = "rejected"
    #: Accepted; the operator fails the TrainJob with condition reason `reason` and the messages.
    FAILED = "failed"
    #: Accepted; the TrainJob stays Created, its Ready condition says why (`reason`, messages).
    WAITING = "waiting"
    #: Accepted and run; worker 0's log contains every message.
    SUCCEEDED = "succeeded"


@dataclass(frozen=True)
class BadManifest:
    """One manifest of the corpus and what it must give."""

    path: Path
    why: str
    outcome: Outcome
    #: The field the local validator's errors must name (a prefix of an error's path).
    field: str | None
    #: The condition reason of a failed or waiting TrainJob.
    reason: str | None
    messages: tuple[str, ...]

    @property
    def name(self) -> str:
        """The file's name without `.yaml` (also the TrainJob's name, where that is valid)."""
        return self.path.stem

    def load(self) -> dict[str, Any]:
        """The manifest as a dict."""
        return yaml.safe_load(self.path.read_text())


def _parse(path: Path) -> BadManifest:
    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.removeprefix("#").strip())
    fields: dict[str, list[str]] = {}
    for line in header[1:]:
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    single = {key: values[0] for key, values in fields.items() if key != "message"}
    return BadManifest(
        path=path,
        why=header[0],
        outcome=Outcome(single["expect"]),
        field=single.get("field"),
        reason=single.get("reason"),
        messages=tuple(fields.get("message", ())),
    )


def load_corpus() -> list[BadManifest]:
    """Every manifest of the corpus, by file name."""
    return [_parse(path) for path in sorted(CORPUS.glob("*.yaml"))]
