"""trainjob: the in-pod training library, the local runner and the CLI."""

from trainjob.config import CheckpointConfig, EarlyStoppingConfig, TrainerConfig
from trainjob.distributed import seed_everything
from trainjob.state import StopReason
from trainjob.trainer import FitResult, Trainer, TrainingFailed

__all__ = [
    "CheckpointConfig",
    "EarlyStoppingConfig",
    "FitResult",
    "StopReason",
    "Trainer",
    "TrainerConfig",
    "TrainingFailed",
    "seed_everything",
]
