"""`trainjob stop NAME`: ask a running TrainJob to stop gracefully (the stop annotation)."""

from __future__ import annotations

import argparse
import enum

from trainjob.cli.base import Commands, add_cluster_options, command_line, connect
from trainjob.cli.watch import follow_to_end, outcome
from trainjob.client.trainjobs import TrainJob, TrainJobs, is_finished, phase_of
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


class StopAnswer(enum.Enum):
    """What asking a TrainJob to stop did."""

    FINISHED = "it has already finished; nothing to stop"
    ALREADY_REQUESTED = "a stop was already requested"
    REQUESTED = f'stop requested ({STOP_ANNOTATION}: "true")'


def ask_to_stop(trainjobs: TrainJobs, name: str) -> tuple[StopAnswer, TrainJob]:
    """Set the stop annotation unless the job has finished or already has it; what was done, and the job.

    Raises ClusterError as the apiserver refuses (403 for a user without `patch` on trainjobs).
    """
    trainjob = trainjobs.get(name)
    if is_finished(trainjob):
        return StopAnswer.FINISHED, trainjob
    if stop_requested(trainjob):
        return StopAnswer.ALREADY_REQUESTED, trainjob
    return StopAnswer.REQUESTED, trainjobs.request_stop(name)


def stop_trainjob(args: argparse.Namespace) -> int:
    """Set the stop annotation, say what happens next, and optionally wait for the end."""
    trainjobs = TrainJobs(connect(args))
    answer, trainjob = ask_to_stop(trainjobs, args.name)
    what = f'trainjob "{args.name}" in namespace "{trainjobs.namespace}"'
    if answer is StopAnswer.FINISHED:
        print(f"{what} has already finished ({phase_of(trainjob)}); nothing to stop.")
        return outcome(trainjob) if args.wait else 0
    print(f"{what}: {answer.value}.")
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
