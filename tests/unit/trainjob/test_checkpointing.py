"""Checkpoint faults: interrupted saves, unreadable checkpoints, failed saves, and a kill storm."""

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import numpy
import pytest
import torch

from trainjob import TrainerConfig
from trainjob.callbacks import CheckpointSaver, StatusReporter
from trainjob.callbacks.checkpoint_saver import CheckpointSaveFailed
from trainjob.checkpointing import CheckpointStore
from trainjob.reporting.sinks import FileSink

KILLS = 24


def fit_with_status(
    make_trainer, checkpoints: Path, status: Path, max_epochs: int, **options
) -> CheckpointSaver:
    """Fit (or resume) with a saver and a reporter writing the status to `status`; the saver."""
    saver = CheckpointSaver(path=str(checkpoints), **options)
    reporter = StatusReporter(FileSink(status), min_interval_s=0.0)
    make_trainer(TrainerConfig(max_epochs=max_epochs, batch_size=8), callbacks=[saver, reporter]).fit()
    return saver


def test_a_fresh_run_reports_that_it_found_no_checkpoint(make_trainer, tmp_path):
    fit_with_status(make_trainer, tmp_path / "ckpt", tmp_path / "status.json", max_epochs=1)
    checkpoint = json.loads((tmp_path / "status.json").read_text())["checkpoint"]
    assert checkpoint["resumedFrom"] == "" and checkpoint["resumedEpoch"] == 0
    assert checkpoint["resume"] == f"no checkpoint in {tmp_path / 'ckpt'}: training starts from the beginning"
    assert checkpoint["epoch"] == 1 and "saveError" not in checkpoint


def test_an_unreadable_latest_checkpoint_is_skipped_for_the_one_before_it(make_trainer, tmp_path, capsys):
    checkpoints = tmp_path / "ckpt"
    fit_with_status(make_trainer, checkpoints, tmp_path / "first.json", max_epochs=3)
    newest = checkpoints / "ckpt-e000003-b000000000.pt"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a disk that filled up

    saver = fit_with_status(make_trainer, checkpoints, tmp_path / "second.json", max_epochs=4)

    previous = str(checkpoints / "ckpt-e000002-b000000000.pt")
    assert (saver.resumed_from, saver.resumed_epoch) == (previous, 2)
    checkpoint = json.loads((tmp_path / "second.json").read_text())["checkpoint"]
    assert checkpoint["resumedFrom"] == previous and checkpoint["resumedEpoch"] == 2
    assert checkpoint["resume"].startswith(
        f"resumed from {previous} (epoch 2, batch 0); skipped unreadable {newest}"
    )
    assert checkpoint["epoch"] == 4
    assert f"checkpoint: resumed from {previous}" in capsys.readouterr().out
    # The skipped file was rewritten by the resumed run when it got there again.
    assert CheckpointStore(checkpoints, 3).read(CheckpointStore(checkpoints, 3).files()[-2])["epoch"] == 3


def test_no_readable_checkpoint_starts_over_and_says_so(make_trainer, tmp_path):
    checkpoints = tmp_path / "ckpt"
    checkpoints.mkdir()
    (checkpoints / "ckpt-e000005-b000000000.pt").write_bytes(b"not a checkpoint")
    saver = fit_with_status(make_trainer, checkpoints, tmp_path / "status.json", max_epochs=1)
    assert (saver.resumed_from, saver.resumed_epoch) == ("", 0)
    assert saver.resume_message.startswith("no checkpoint in")


def test_a_failed_save_fails_the_fit_with_the_reason_in_the_status(make_trainer, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the checkpoint directory should be")
    status = tmp_path / "status.json"
    with pytest.raises(CheckpointSaveFailed, match=r"saving the checkpoint of epoch 1 to .* failed"):
        fit_with_status(make_trainer, blocker / "ckpt", status, max_epochs=3)
    reported = json.loads(status.read_text())
    assert reported["checkpoint"]["saveError"].startswith(
        f"saving the checkpoint of epoch 1 to {blocker / 'ckpt'}"
    )
    assert "Not a directory" in reported["checkpoint"]["saveError"]
    assert reported["progress"]["epoch"] == 1


def test_rank_0_removes_only_its_own_leftover_temporaries_at_start(make_trainer, tmp_path):
    checkpoints = tmp_path / "ckpt"
    checkpoints.mkdir()
    leftovers = [".ckpt-e000002-b000000000.pt.k2j3h4.tmp", ".tmp-x8f0a1.pt"]
    others = [".tmp-notes.txt", "ckpt-e000002.pt.tmp", "model.pt"]
    for name in leftovers + others:
        (checkpoints / name).write_bytes(b"x" * 10)
    fit_with_status(make_trainer, checkpoints, tmp_path / "status.json", max_epochs=1, resume=False)
    assert sorted(p.name for p in checkpoints.iterdir()) == sorted([*others, "ckpt-e000001-b000000000.pt"])


def test_a_prune_that_fails_at_a_resume_is_logged_and_the_resume_goes_on(
    make_trainer, tmp_path, monkeypatch, caplog
):
    checkpoints = tmp_path / "ckpt"
    fit_with_status(make_trainer, checkpoints, tmp_path / "status.json", max_epochs=2, keep_last=3)
    saver = CheckpointSaver(path=str(checkpoints), keep_last=1)

    def refuse(name: str) -> None:
        raise PermissionError(f"may not delete {name}")

    monkeypatch.setattr(saver.store.storage, "delete", refuse)
    loaded = saver.open_for_resume()

    assert loaded is not None and loaded.file.epoch == 2
    assert f"could not prune old checkpoints in {checkpoints}: may not delete" in caplog.text
    assert [f.epoch for f in saver.store.files()] == [1, 2]


def _save_forever(directory: str, ready: multiprocessing.Event) -> None:
    """Save checkpoints of a ~4 MB model back to back: epoch n holds tensors filled with n.

    The tensors are made by numpy: a forked child must not enter torch's OpenMP pool, which
    the parent (pytest, having trained models) has already started.
    """
    store = CheckpointStore(directory, keep_last=2)
    epoch = len(store.files()) and store.latest().epoch
    ready.set()
    while True:
        epoch += 1
        model = {"weights": torch.from_numpy(numpy.full((1024, 1024), float(epoch), dtype=numpy.float32))}
        payload = {"epoch": epoch, "batch": 0, "global_step": epoch, "model": model, "optimizer": {}}
        store.save({**payload, "callbacks": {}, "rng": []}, epoch, 0)


def test_a_kill_storm_during_saves_never_leaves_a_partial_checkpoint_or_a_temporary(tmp_path):
    context = multiprocessing.get_context("fork")
    generator = random.Random(17)
    leftovers = 0
    resumed = []
    for _ in range(KILLS):
        ready = context.Event()
        saver = context.Process(target=_save_forever, args=(str(tmp_path), ready))
        saver.start()
        assert ready.wait(30), "the saving process did not start"
        time.sleep(generator.uniform(0.02, 0.5))
        os.kill(saver.pid, signal.SIGKILL)
        saver.join()
        assert saver.exitcode == -signal.SIGKILL

        # What rank 0 of the restarted group does first.
        store = CheckpointStore(tmp_path, keep_last=2)
        leftovers += len(store.remove_temporaries())
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
        loaded = store.load_latest()
        if loaded is None:
            continue
        assert loaded.skipped == ()
        epoch = loaded.payload["epoch"]
        assert loaded.file.epoch == epoch
        assert torch.equal(loaded.payload["model"]["weights"], torch.full((1024, 1024), float(epoch)))
        resumed.append(epoch)
    # The kills landed mid-write (temporaries were left) and the runs made progress across restarts.
    assert leftovers >= KILLS // 4, (leftovers, resumed)
    assert resumed == sorted(resumed) and len(set(resumed)) > KILLS // 2, resumed
