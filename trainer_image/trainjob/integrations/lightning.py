"""The Lightning integration for `lightning.pytorch`: `TrainJobCallback`.

In a TrainJob worker, Lightning adds the callback by itself through its
`lightning.pytorch.callbacks_factory` entry point (`callbacks_factory` here, declared in trainjob's
pyproject.toml): no change to the script. `TRAINJOB_AUTO_CALLBACKS=0` keeps it out;
`Trainer(callbacks=[TrainJobCallback()])` adds it by hand.
"""

from __future__ import annotations

from lightning.pytorch import Callback

from trainjob.integrations.lightning_callback import LightningReporting, factory_for


class TrainJobCallback(LightningReporting, Callback):
    """Reports progress, metrics, early stopping and checkpoints to the TrainJob; stops on request."""


#: Lightning's entry point: the callback in a TrainJob worker, nothing elsewhere or when switched off.
callbacks_factory = factory_for(TrainJobCallback)
