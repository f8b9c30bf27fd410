"""The TrainJob CustomResourceDefinition, rendered from `schema.TRAINJOB_SCHEMA`.

`python -m trainjob_api.crd` (or `hack/gen_crd.py`) writes every copy listed in
`GENERATED_COPIES`; with `--check` it only reports the copies that drifted from the schema.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from trainjob_api.names import (
    API_VERSION,
    CATEGORIES,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
)
from trainjob_api.schema import TRAINJOB_SCHEMA

CRD_NAME = f"{PLURAL}.{GROUP}"
#: Where the CRD is kept in the repository, relative to its root: `crds/` and the Helm chart's copy.
GENERATED_COPIES: tuple[str, ...] = (
    f"crds/{GROUP}_{PLURAL}.yaml",
    f"charts/trainjob-operator/crds/{GROUP}_{PLURAL}.yaml",
)
HEADER = (
    "# Generated from trainer_image/trainjob_api/schema.py by hack/gen_crd.py: do not edit.\n"
    f"# {API_VERSION} {KIND}\n"
)


def _column(name: str, type_: str, path: str, description: str, priority: int = 0) -> dict[str, Any]:
    """One `kubectl get` column."""
    column = {"name": name, "type": type_, "jsonPath": path, "description": description}
    return column | ({"priority": priority} if priority else {})


PRINTER_COLUMNS = (
    _column("Phase", "string", ".status.phase", "The job's phase."),
    _column(
        "Reason",
        "string",
        '.status.conditions[?(@.type=="Reconciling")].reason',
        "Why it is in that phase: Queued or Preempted (Kueue), WorkersRunning, BackoffLimitExceeded, ...",
    ),
    _column("Nodes", "integer", ".spec.numNodes", "Worker pods."),
    _column("Epoch", "integer", ".status.progress.epoch", "The current epoch."),
    _column("Progress", "number", ".status.progress.percent", "Percent of training done."),
    _column("Loss", "number", ".status.metrics.loss", "The latest training loss."),
    _column("Restarts", "integer", ".status.restarts", "Whole-group restarts.", priority=1),
    _column("Age", "date", ".metadata.creationTimestamp", "Time since creation."),
)


def crd_manifest() -> dict[str, Any]:
    """The CustomResourceDefinition object."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": list(CATEGORIES),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": TRAINJOB_SCHEMA},
                }
            ],
        },
    }


def render() -> str:
    """The CRD as the YAML file kept in the repository."""
    return HEADER + yaml.safe_dump(crd_manifest(), sort_keys=False, width=100, allow_unicode=True)


def stale_copies(root: Path) -> list[Path]:
    """The generated copies under `root` that are missing or differ from `render()`."""
    text = render()
    paths = [root / relative for relative in GENERATED_COPIES]
    return [path for path in paths if not path.is_file() or path.read_text() != text]


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with `--check`, verify) every generated copy of the CRD."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="fail if a copy differs; write nothing")
    args = parser.parse_args(argv)
    stale = stale_copies(args.root)
    if args.check:
        for path in stale:
            print(f"{path} is out of date: run hack/gen_crd.py", file=sys.stderr)
        return 1 if stale else 0
    text = render()
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
