"""ProgressMonitor: a line per epoch off a terminal, a bar on one."""

import io

from trainjob import TrainerConfig
from trainjob.callbacks import (
    ProgressMonitor,
)


def test_progress_monitor_prints_one_line_per_epoch_off_a_terminal(make_trainer):
    stream = io.StringIO()
    make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[ProgressMonitor(stream=stream)]).fit()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch 1/2 50% loss=") and "val_loss=" in lines[0]
    assert lines[1].startswith("epoch 2/2 100%")


def test_progress_monitor_draws_a_bar_on_a_terminal(make_trainer):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[ProgressMonitor(stream=stream)]).fit()
    assert "epoch 2/2" in stream.getvalue() and "100.0%" in stream.getvalue()
