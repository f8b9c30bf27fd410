#!/usr/bin/env python3
"""Capture suspended TrainJobs from a real run into `tests/data/trainjob-status/`.

Starts the test control plane (`hack/controlplane.sh` binaries, root needed), installs the CRD,
runs the operator of this checkout on the namespace `ml`, `kubectl apply`s each scenario below and
waits until the operator has written its phase and reason; then writes the TrainJob as the
apiserver returns it (without `managedFields`) to `tests/data/trainjob-status/NAME-PHASE.json`.
The captures drive the GitOps tests (`tests/unit/charts/test_gitops_verdicts.py`): run this after
changing the conditions the operator writes for these phases.

- `held`: `runPolicy.suspend: true`, reason Suspended.
- `queued`: a Kueue queue is named; with no Kueue to admit the workers it stays queued.

The other captures there (`crashes-*`, `digits-run-*`: no status yet, Created, Running,
Restarting, Failed, Succeeded) come from runs whose workers ran on the test node.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.cluster import ControlPlane, build_binaries  # noqa: E402
from tests.e2e.operator_process import start_operator, stop_operator  # noqa: E402
from tests.e2e.support import get_trainjob, install_crd, kubectl_apply, wait_for_status  # noqa: E402
from tests.gitops import CAPTURES  # noqa: E402
from trainjob_api.names import KUEUE_QUEUE_LABEL  # noqa: E402

NAMESPACE = "ml"
SPEC = {
    "image": "ghcr.io/trainjob/trainer:0.1.0",
    "command": ["python", "examples/digits/train.py"],
    "maxEpochs": 3,
    "numNodes": 1,
}
#: name -> (labels, spec overrides, the phase and reason to wait for)
SCENARIOS: dict[str, tuple[dict[str, str], dict[str, Any], tuple[str, str]]] = {
    "held": ({}, {"runPolicy": {"suspend": True}}, ("Suspended", "Suspended")),
    "queued": ({KUEUE_QUEUE_LABEL: "gpus"}, {}, ("Suspended", "Queued")),
}


def reason(status: dict[str, Any]) -> str | None:
    """The reason of the latest transition (the `Reconciling` condition's)."""
    conditions = status.get("conditions") or []
    return next((c.get("reason") for c in conditions if c["type"] == "Reconciling"), None)


def capture(cp: ControlPlane, operator: subprocess.Popen[bytes], workdir: Path) -> list[Path]:
    """Apply every scenario, wait for its phase and reason, and write the captures."""
    for name, (labels, spec, _) in SCENARIOS.items():
        manifest = {
            "apiVersion": "trainjob.dev/v1alpha1",
            "kind": "TrainJob",
            "metadata": {"name": name, "namespace": NAMESPACE, **({"labels": labels} if labels else {})},
            "spec": {**SPEC, **spec},
        }
        kubectl_apply(cp, manifest, workdir)
    written = []
    for name, (_, _, (phase, why)) in SCENARIOS.items():
        wait_for_status(
            cp, NAMESPACE, name, lambda s, p=phase, w=why: (s.get("phase"), reason(s)) == (p, w),
            timeout=60, operator=operator,
        )  # fmt: skip
        trainjob = get_trainjob(cp, NAMESPACE, name)
        trainjob["metadata"].pop("managedFields", None)
        path = CAPTURES / f"{name}-{phase.lower()}.json"
        path.write_text(json.dumps(trainjob, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> None:
    """Capture every scenario from one control plane and operator."""
    with tempfile.TemporaryDirectory() as tmp, ControlPlane(build_binaries()) as cp:
        workdir = Path(tmp)
        install_crd(cp)
        cp.admin.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        operator = start_operator(cp, NAMESPACE, workdir / "operator.log")
        try:
            written = capture(cp, operator, workdir)
        except AssertionError:
            print((workdir / "operator.log").read_text(), file=sys.stderr)
            raise
        finally:
            stop_operator(operator)
    for path in written:
        print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
