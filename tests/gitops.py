"""What GitOps tools make of a TrainJob: the README's GitOps table, and kstatus's real verdict.

kstatus is the library Flux and cli-utils read objects with (`sigs.k8s.io/cli-utils`,
`status.Compute`); `hack/kstatus.sh build` builds a small checker from it (Go, cached like the
control plane). The README's table (section "GitOps: Argo CD, Flux, `kubectl wait`") says, per
phase and reason, which summary conditions a TrainJob has and what kstatus and the Argo CD health
check say of it; tests check every row against captured TrainJobs and both tools.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
KSTATUS_SH = REPO / "hack" / "kstatus.sh"
#: TrainJobs as the apiserver returned them while the operator ran them, one per README row.
CAPTURES = REPO / "tests" / "data" / "trainjob-status"
GITOPS_HEADING = "## GitOps: Argo CD, Flux, `kubectl wait`"
#: The first cell of the row of a TrainJob the operator has not written a status for yet.
NO_STATUS = "no status yet"
#: The summary conditions, in the table's order.
SUMMARY = ("Ready", "Reconciling", "Stalled")


@dataclass(frozen=True)
class Verdict:
    """kstatus's verdict on one object: InProgress, Current, Failed or Terminating, and why."""

    status: str
    message: str


class Kstatus:
    """The checker built by `hack/kstatus.sh`: `kstatus(obj, ...)` runs it once on the objects."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def __call__(self, *objects: Mapping[str, Any]) -> list[Verdict]:
        """kstatus's verdict on each object, in order."""
        stream = "\n".join(json.dumps(obj) for obj in objects)
        done = subprocess.run(
            [str(self.binary), "-"], input=stream, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"the kstatus checker failed: {done.stderr}"
        verdicts = [json.loads(line) for line in done.stdout.splitlines()]
        assert len(verdicts) == len(objects), done.stdout
        return [Verdict(verdict["status"], verdict["message"]) for verdict in verdicts]


@functools.cache
def build_kstatus() -> Kstatus | str:
    """The checker (built by `hack/kstatus.sh build`, instant when cached), or why it cannot be built."""
    try:
        done = subprocess.run([str(KSTATUS_SH), "build"], capture_output=True, text=True, check=False)
    except OSError as error:
        return f"{KSTATUS_SH} could not run: {error}"
    if done.returncode != 0:
        return f"`hack/kstatus.sh build` exited {done.returncode}:\n{done.stderr}"
    return Kstatus(Path(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class Row:
    """A row of the README's GitOps table."""

    label: str
    phases: frozenset[str]
    #: The reasons the row is about (those of the `Reconciling` condition); None: any reason.
    reasons: frozenset[str] | None
    #: Ready, Reconciling, Stalled: "True", "False", or "" for an absent condition.
    conditions: tuple[str, str, str]
    kstatus: str
    argocd: str


def _names(cell: str) -> frozenset[str]:
    """The comma-separated names of a cell, without backticks and parenthesised remarks."""
    text = re.sub(r"\([^)]*\)", "", cell).replace("`", "")
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def readme_rows(readme: str | None = None) -> list[Row]:
    """The rows of the first table in the README's GitOps section."""
    text = README.read_text() if readme is None else readme
    assert GITOPS_HEADING in text, f"README.md has no section {GITOPS_HEADING!r}"
    section = text.split(GITOPS_HEADING, 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:2] == ["phase", "reason"] and header[5] == "kstatus", f"unexpected columns: {header}"
    rows = []
    for line in lines[2:]:
        phase, reason, ready, reconciling, stalled, kstatus, argocd = (
            cell.strip() for cell in line.strip("|").split("|")
        )
        reasons = None if reason in ("", "any") else _names(reason)
        label = f"{phase} / {reason}" if reason else phase
        rows.append(Row(label, _names(phase), reasons, (ready, reconciling, stalled), kstatus, argocd))
    return rows


def condition_columns(trainjob: Mapping[str, Any]) -> tuple[str, str, str]:
    """The TrainJob's Ready, Reconciling and Stalled statuses ("" when absent), as the table has them."""
    conditions = (trainjob.get("status") or {}).get("conditions") or []
    statuses = {condition["type"]: condition["status"] for condition in conditions}
    return statuses.get("Ready", ""), statuses.get("Reconciling", ""), statuses.get("Stalled", "")


def row_for(trainjob: Mapping[str, Any], rows: list[Row]) -> Row:
    """The one row about the TrainJob's phase and reason (that of its `Reconciling` condition)."""
    status = trainjob.get("status") or {}
    phase = status.get("phase") or NO_STATUS
    reason = next(
        (c.get("reason") for c in status.get("conditions") or [] if c["type"] == "Reconciling"), None
    )
    matching = [row for row in rows if phase in row.phases and (row.reasons is None or reason in row.reasons)]
    assert len(matching) == 1, f"{len(matching)} README rows are about phase {phase} with reason {reason}"
    return matching[0]
