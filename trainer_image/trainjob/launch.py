"""The node launcher: start one process per local rank, as torchrun does, from the contract.

`python -m trainjob.launch -- COMMAND...` runs COMMAND `NPROC_PER_NODE` times with `RANK`
and `LOCAL_RANK` set. The operator and the local runner put it in front of the user's
command when a node runs more than one process. The first failure stops the node and
becomes its exit code; SIGTERM and SIGINT are passed on for a graceful stop.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType

from trainjob.integrations.kubeflow_node import progress_server_for_node
from trainjob.processes import ProcessGroup, ProcessSpec
from trainjob_api.contract import NODE_RANK, NPROC_PER_NODE, PET_NODE_RANK, process_environment

#: Seconds the launcher gives its processes to stop after passing on a signal.
LAUNCHER_GRACE_S = 60.0


def local_process_specs(command: Sequence[str], environ: Mapping[str, str]) -> list[ProcessSpec]:
    """One process per local rank of this node, each with its per-process variables."""
    node_rank = int(environ.get(NODE_RANK) or environ.get(PET_NODE_RANK) or "0")
    nproc = int(environ.get(NPROC_PER_NODE, "1"))
    return [
        ProcessSpec(
            label=f"rank {node_rank * nproc + local_rank}",
            command=command,
            env={**environ, **process_environment(node_rank, local_rank, nproc)},
        )
        for local_rank in range(nproc)
    ]


def launch(command: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run the node's processes to the end; the exit code of the first failure, else 0.

    On the node of rank 0 of a TrainJob it also serves transformers' Kubeflow progress protocol
    on loopback (see `trainjob.integrations.kubeflow_server`), so a Hugging Face script reports
    with no code change.
    """
    server = progress_server_for_node(environ)
    if server is not None:
        environ = {**environ, **server.environment()}
    try:
        return _run_node(command, environ)
    finally:
        if server is not None:
            server.close()


def _run_node(command: Sequence[str], environ: Mapping[str, str]) -> int:
    group = ProcessGroup(local_process_specs(command, environ), on_line=_print_line, grace_s=LAUNCHER_GRACE_S)

    def forward(signum: int, frame: FrameType | None) -> None:
        group.signal_all(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    group.start()
    exits = group.wait()
    first = exits[0]
    if first.code != 0:
        print(f"trainjob.launch: {first.label} failed ({first.reason}); stopped the node", file=sys.stderr)
        return first.code if first.code > 0 else 128 - first.code
    return 0


def _print_line(label: str, line: str) -> None:
    print(f"[{label}] {line}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m trainjob.launch -- COMMAND...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m trainjob.launch -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    return launch(args, os.environ)


if __name__ == "__main__":
    sys.exit(main())
