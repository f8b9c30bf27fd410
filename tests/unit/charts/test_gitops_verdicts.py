"""The README's GitOps table against the real tools, on TrainJobs captured from real runs.

Each captured TrainJob (tests/data/trainjob-status/, one per phase, including the one without a
status, a mid-restart one, one held by `runPolicy.suspend` and one queued for Kueue) goes through
the real kstatus library (the checker `hack/kstatus.sh` builds from sigs.k8s.io/cli-utils, what
Flux decides "ready" with) and the Argo CD health check (health.lua in Lua 5.1), side by side;
its README row must say what both said, and which summary conditions the TrainJob has.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.chart import argocd_health
from tests.gitops import CAPTURES, NO_STATUS, Kstatus, Row, condition_columns, readme_rows, row_for

CAPTURED = sorted(CAPTURES.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    """A captured TrainJob."""
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    """The README's GitOps table."""
    return readme_rows()


@pytest.mark.parametrize("capture", CAPTURED, ids=lambda path: path.stem)
def test_the_readme_row_says_what_kstatus_and_argocd_say(
    capture: Path, rows: list[Row], kstatus: Kstatus
) -> None:
    trainjob = load(capture)
    phase = (trainjob.get("status") or {}).get("phase")
    assert capture.stem.endswith((phase or "nostatus").lower()), "the capture's name tells its phase"
    row = row_for(trainjob, rows)
    [verdict] = kstatus(trainjob)
    health, message = argocd_health(trainjob)
    seen = (condition_columns(trainjob), verdict.status, health)
    assert seen == (row.conditions, row.kstatus, row.argocd), (
        f"README row {row.label!r}: conditions {row.conditions}, kstatus {row.kstatus}, "
        f"Argo CD {row.argocd}; but {capture.name} has {seen[0]}, kstatus says {verdict.status} "
        f"({verdict.message!r}), Argo CD says {health} ({message!r})"
    )
    assert message.startswith(phase or "Waiting for the operator")


def test_every_readme_row_has_a_capture(rows: list[Row]) -> None:
    covered = {row_for(load(capture), rows).label for capture in CAPTURED}
    assert [row.label for row in rows if row.label not in covered] == []
    assert any(row.label.startswith(NO_STATUS) for row in rows)


def test_an_unobserved_spec_change_is_in_progress_for_both(kstatus: Kstatus) -> None:
    """The README: until the operator has seen a spec change, both tools say in progress."""
    changed = []
    for capture in CAPTURED:
        trainjob = copy.deepcopy(load(capture))
        if "status" in trainjob:
            trainjob["metadata"]["generation"] = trainjob["status"]["observedGeneration"] + 1
            changed.append(trainjob)
    assert len(changed) == len(CAPTURED) - 1
    for trainjob, verdict in zip(changed, kstatus(*changed), strict=True):
        assert verdict.status == "InProgress", verdict
        assert argocd_health(trainjob)[0] == "Progressing"
