"""`trainjob run` and `trainjob launch`: a TrainJob on this machine, and the node launcher."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainjob.cli.base import EXIT_INTERRUPTED, EXIT_INVALID, Commands


def register(commands: Commands) -> None:
    """Add `run` and `launch`."""
    run = commands.add_parser("run", help="run a TrainJob manifest on this machine as local worker processes")
    run.add_argument("manifest", type=Path, help="a TrainJob YAML file, as `kubectl apply -f` takes it")
    run.add_argument("--run-dir", type=Path, help="where run files go (default: .trainjob/runs/NAME)")
    run.add_argument(
        "--resume", action="store_true", help="keep the run directory and resume its checkpoints"
    )
    run.add_argument("--grace", type=float, default=30.0, help="seconds a worker gets to stop gracefully")
    run.add_argument(
        "--check",
        action="store_true",
        help="only check the manifest (the CRD's schema and rules, as the apiserver does) and exit",
    )
    run.set_defaults(handler=run_manifest)

    launch = commands.add_parser(
        "launch", help="start NPROC_PER_NODE processes of COMMAND (the node launcher)"
    )
    launch.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    launch.set_defaults(handler=launch_node)


def run_manifest(args: argparse.Namespace) -> int:
    """`trainjob run FILE`: the workers as local processes, live progress, then the final status."""
    import yaml

    from trainjob.reporting.history_store import HISTORY_FILE_NAME
    from trainjob.reporting.sinks import read_status_file
    from trainjob.runner.display import RunDisplay
    from trainjob.runner.local import STATUS_FILE_NAME, LocalRun, RunOptions
    from trainjob.runner.manifest import ManifestError, load_manifest

    try:
        manifest = load_manifest(args.manifest)
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.check:
        print(f"{args.manifest}: TrainJob {manifest.identity.name!r} is valid")
        return 0
    run_dir = args.run_dir or Path(".trainjob") / "runs" / manifest.identity.name
    options = RunOptions(run_dir=run_dir, resume=args.resume, grace_s=args.grace)
    spec = manifest.spec
    workers = f"{spec['numNodes']} node(s) x {spec['numProcPerNode']} process(es)"
    print(f"trainjob {manifest.identity.name}: {workers}, run dir {run_dir}")
    status_file = run_dir / STATUS_FILE_NAME
    display = RunDisplay(status=lambda: read_status_file(status_file))
    local = LocalRun(manifest, options, on_line=display.line)
    try:
        with display:
            status = local.run()
    except ManifestError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    history = run_dir / HISTORY_FILE_NAME
    if history.is_file():
        print(f"training history saved to {history}; draw it with: trainjob plot --run-dir {run_dir}")
    print(yaml.safe_dump({"status": local.document()}, sort_keys=False), end="")
    if status.interrupted:
        return EXIT_INTERRUPTED
    return 0 if status.phase == "Succeeded" else 1


def launch_node(args: argparse.Namespace) -> int:
    """`trainjob launch -- COMMAND`: the node launcher."""
    from trainjob.launch import main as launch_main

    return launch_main(args.argv)
