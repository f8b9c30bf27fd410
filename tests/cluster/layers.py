"""Each container's own writable layer on the test node: overlay scratch that dies with the pod.

A container runtime gives every container (and every restart of it) a fresh writable layer
over its image, and deletes it with the pod. The test node's "image" is the host: podinit.py
mounts an overlay on each directory a program writes to without a volume, whose upper layer
is a directory made here, and makes the rest of the host read-only. The scratch lives outside
every overlaid directory (overlayfs refuses an upper layer inside its lower one), under
/var/lib/trainjob-node/<node process id>-<node name>, so a killed session's is swept later.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

SCRATCH_ROOT = Path("/var/lib/trainjob-node")
#: Where programs write without asking for a volume (besides their working directory and HOME).
TEMPORARY_DIRECTORIES = ("/tmp", "/var/tmp")
_OWNED = re.compile(r"^(\d+)-")


def overlaid_directories(workdir: str, home: str) -> list[str]:
    """The existing directories that get a private writable layer; none inside another."""
    candidates = sorted(
        {os.path.realpath(p) for p in (*TEMPORARY_DIRECTORIES, workdir, home) if os.path.isdir(p)}
    )
    chosen: list[str] = []
    for path in candidates:
        if not any(path == parent or path.startswith(parent.rstrip("/") + "/") for parent in chosen):
            chosen.append(path)
    return chosen


class WritableLayers:
    """The scratch of every container of one node: `make` per container start, `remove` per pod."""

    def __init__(self, node_name: str) -> None:
        sweep_leftovers()
        self.root = SCRATCH_ROOT / f"{os.getpid()}-{node_name}"

    def make(self, pod_uid: str, container: str, restart: int, targets: Iterable[str]) -> list[list[str]]:
        """Fresh (target, upper, work) triples for one start of a container."""
        layers = []
        base = self.root / pod_uid / f"{container}-{restart}"
        for index, target in enumerate(targets):
            upper, work = base / str(index) / "upper", base / str(index) / "work"
            upper.mkdir(parents=True)
            work.mkdir(parents=True)
            layers.append([target, str(upper), str(work)])
        return layers

    def remove(self, pod_uid: str) -> None:
        """Delete a pod's layers: what its containers wrote outside volumes is gone."""
        _remove_tree(self.root / pod_uid)

    def close(self) -> None:
        """Delete every layer of the node."""
        _remove_tree(self.root)


def sweep_leftovers() -> None:
    """Delete the scratch of nodes whose process is gone (a killed earlier session)."""
    if not SCRATCH_ROOT.is_dir():
        return
    for entry in SCRATCH_ROOT.iterdir():
        match = _OWNED.match(entry.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _remove_tree(entry)


def _remove_tree(path: Path) -> None:
    # An overlay's work directory holds a root-only, mode-0 "work" subdirectory: rmtree copes as root.
    shutil.rmtree(path, ignore_errors=True)
