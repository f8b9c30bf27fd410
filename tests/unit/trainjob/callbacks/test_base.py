"""The callback base: unique state keys, and only overridden hooks are called."""

import pytest

from trainjob.callbacks import (
    Callback,
    CallbackList,
    EarlyStopping,
)


def test_callback_state_keys_must_be_unique():
    with pytest.raises(ValueError, match="share the state key 'EarlyStopping'"):
        CallbackList([EarlyStopping(), EarlyStopping()])


def test_callback_list_calls_only_overridden_hooks():
    class OnlyEpoch(Callback):
        def on_epoch_end(self, trainer):
            trainer.append("end")

    seen: list[str] = []
    callbacks = CallbackList([OnlyEpoch()])
    callbacks.call("on_train_batch_end", seen, None, 0)
    callbacks.call("on_epoch_end", seen)
    assert seen == ["end"]
