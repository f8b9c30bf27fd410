"""`trainjob stop NAME`: ask a running TrainJob to stop gracefully (the stop annotation)."""

from __future__ import annotations

import argparse

from trainjob.cli.base import Commands, add_cluster_options, command_line, connect
from trainjob.cli.watch import follow_to_end, outcome
from trainjob.client.trainjobs import TrainJobs, is_finished, phase_of
from trainjob_api.names import STOP_ANNOTATION, stop_requested


def register(commands: Commands) -> None:
    """Add `stop`."""
    stop = commands.add_parser(
        "stop",
        help=f'ask a TrainJob to stop gracefully (sets the annotation {STOP_ANNOTATION}: "true")',
        description="Every rank stops at the same step, rank 0 saves a checkpoint, and the workers "
        "exit 0, so the TrainJob ends Succeeded with status.stoppedOnRequest set.",
    )
    stop.add_argument("name", help="the TrainJob")
    stop.add_argument(
        "--wait", action="store_true", help="follow the job until it ends (exit 0 if it succeeded, 1 if not)"
    )
    add_cluster_options(stop)
    stop.set_defaults(handler=stop_trainjob)


def stop_trainjob(args: argparse.Namespace) -> int:
    """Set the stop annotation, say what happens next, and optionally wait for the end."""
    trainjobs = TrainJobs(connect(args))
    trainjob = trainjobs.get(args.name)
    what = f'trainjob "{args.name}" in namespace "{trainjobs.namespace}"'
    if is_finished(trainjob):
        print(f"{what} has already finished ({phase_of(trainjob)}); nothing to stop.")
        return outcome(trainjob) if args.wait else 0
    if stop_requested(trainjob):
        print(f"{what}: a stop was already requested.")
    else:
        trainjobs.request_stop(args.name)
        print(f'{what}: stop requested ({STOP_ANNOTATION}: "true").')
    print(
        "Every rank stops at the same step, rank 0 saves a checkpoint, and the workers exit 0: "
        "the job ends Succeeded (status.stoppedOnRequest). "
        + (
            "Waiting for it to end..."
            if args.wait
            else f"Follow it with: {command_line(args, 'watch', args.name)}"
        ),
        flush=True,
    )
    if not args.wait:
        return 0
    return outcome(follow_to_end(trainjobs, args.name))
