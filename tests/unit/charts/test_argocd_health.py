"""The Argo CD health check (Lua 5.1, as Argo CD's gopher-lua runs it) on TrainJobs captured from real runs.

The fixtures in tests/data/trainjob-status/ are TrainJobs as the apiserver returned them while
the operator ran them on the test control plane: no status yet, Created, Running, Restarting,
Failed (backoff limit spent), Succeeded, suspended and queued. The health of each, beside kstatus's
verdict and against the README's GitOps table, is checked in test_gitops_verdicts.py.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from tests.chart import ARGOCD_HEALTH
from tests.chart import argocd_health as health

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "trainjob-status"
HEALTH_KEY = "resource.customizations.health.trainjob.dev_TrainJob"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_messages_carry_the_story() -> None:
    assert health(fixture("digits-run-running"))[1] == ("Running: all 2 workers are running (epoch 2/4, 30%)")
    _, failed = health(fixture("crashes-failed"))
    assert failed.startswith("Failed: worker 0 (pod crashes-0-") and "exited with code 3" in failed
    assert health(fixture("digits-run-succeeded"))[1].endswith("(epoch 4/4, 100%)")


def test_a_spec_change_the_operator_has_not_seen_is_progressing() -> None:
    trainjob = copy.deepcopy(fixture("digits-run-succeeded"))
    trainjob["metadata"]["generation"] = trainjob["status"]["observedGeneration"] + 1
    assert health(trainjob) == ("Progressing", "Waiting for the operator to observe generation 2")


def test_the_phase_alone_decides_without_conditions() -> None:
    for name, expected in [("crashes-failed", "Degraded"), ("digits-run-succeeded", "Healthy")]:
        trainjob = copy.deepcopy(fixture(name))
        del trainjob["status"]["conditions"]
        assert health(trainjob)[0] == expected


def test_the_argocd_cm_patch_carries_exactly_health_lua() -> None:
    patch = yaml.safe_load((ARGOCD_HEALTH.parent / "argocd-cm-patch.yaml").read_text())
    assert patch == {"data": {HEALTH_KEY: ARGOCD_HEALTH.read_text()}}
