"""Checkpoints in a directory and under `s3://` on a real S3-compatible server (versitygw)."""

import pytest
import torch

from trainjob import TrainerConfig
from trainjob.callbacks import CheckpointSaver
from trainjob.callbacks.checkpoint_saver import CheckpointSaveFailed
from trainjob.checkpoint_storage import ObjectStorage
from trainjob.checkpointing import CheckpointStore

pytestmark = pytest.mark.integration

#: More than s3fs's block size, so the upload is a multipart one that a failure must abort.
MULTIPART_BYTES = 51 * 2**20


@pytest.fixture(params=["directory", "s3"])
def location(request: pytest.FixtureRequest, tmp_path) -> str:
    """A checkpoint location of each kind: a local directory, and a prefix in a fresh bucket."""
    if request.param == "directory":
        return str(tmp_path / "ckpt")
    return f"{request.getfixturevalue('s3_bucket')}/runs/one"


def payload(epoch: int) -> dict:
    """A checkpoint-shaped payload whose tensors say which epoch wrote it."""
    return {
        "epoch": epoch,
        "batch": 0,
        "global_step": epoch * 10,
        "model": {"weight": torch.full((64, 64), float(epoch))},
        "optimizer": {},
        "callbacks": {},
        "rng": [],
    }


def test_saves_list_load_and_keep_last_prunes(location):
    store = CheckpointStore(location, keep_last=2)
    for epoch in range(1, 5):
        written = store.save(payload(epoch), epoch, 0)
        assert written == f"{location}/ckpt-e{epoch:06d}-b000000000.pt"
    assert [(f.epoch, f.path) for f in store.files()] == [
        (3, f"{location}/ckpt-e000003-b000000000.pt"),
        (4, f"{location}/ckpt-e000004-b000000000.pt"),
    ]
    assert sorted(store.storage.names()) == ["ckpt-e000003-b000000000.pt", "ckpt-e000004-b000000000.pt"]
    loaded = CheckpointStore(location, keep_last=2).load_latest()
    assert loaded is not None and loaded.file.epoch == 4
    assert torch.equal(loaded.payload["model"]["weight"], torch.full((64, 64), 4.0))
    assert CheckpointStore.load(loaded.file.path)["global_step"] == 40


def test_a_failed_write_leaves_nothing_a_reader_could_see(location):
    store = CheckpointStore(location, keep_last=3)
    store.save(payload(1), 1, 0)

    def half_then_fail(handle) -> None:
        handle.write(b"\0" * MULTIPART_BYTES)
        raise OSError("the disk filled up")

    with pytest.raises(OSError, match="the disk filled up"):
        store.storage.write("ckpt-e000002-b000000000.pt", half_then_fail)
    assert sorted(store.storage.names()) == ["ckpt-e000001-b000000000.pt"]
    assert store.load_latest().file.epoch == 1


def test_a_run_resumes_from_object_storage(make_trainer, s3_bucket):
    location = f"{s3_bucket}/digits"
    first = CheckpointSaver(path=location, keep_last=2)
    make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[first]).fit()
    assert first.latest_path == f"{location}/ckpt-e000002-b000000000.pt"

    second = CheckpointSaver(path=location, keep_last=2)
    result = make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[second]).fit()

    assert (second.resumed_from, second.resumed_epoch) == (first.latest_path, 2)
    assert result.global_step == 3 * 8
    assert [f.epoch for f in second.store.files()] == [2, 3]


def test_a_refused_upload_fails_the_fit_with_the_reason(make_trainer, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    saver = CheckpointSaver(path=f"{s3_bucket}/refused", resume=False)
    trainer = make_trainer(TrainerConfig(max_epochs=2, batch_size=8), callbacks=[saver])
    with pytest.raises(
        CheckpointSaveFailed, match=f"saving the checkpoint of epoch 1 to {s3_bucket}/refused"
    ):
        trainer.fit()
    assert saver.save_error is not None and "signature" in saver.save_error, saver.save_error


def test_an_object_store_path_lists_nothing_before_the_first_save(s3_bucket):
    assert ObjectStorage(f"{s3_bucket}/never-written").names() == []


def test_a_resume_prunes_what_an_attempt_stopped_between_its_save_and_its_pruning_left(
    make_trainer, location
):
    # Three checkpoints where keepLast is 2, as an earlier attempt leaves them when it is killed
    # after saving its last epoch's checkpoint and before pruning. This attempt has nothing to save.
    first = CheckpointSaver(path=location, keep_last=3)
    make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[first]).fit()
    assert [f.epoch for f in first.store.files()] == [1, 2, 3]
    saver = CheckpointSaver(path=location, keep_last=2)
    make_trainer(TrainerConfig(max_epochs=3, batch_size=8), callbacks=[saver]).fit()

    assert (saver.resumed_from, saver.resumed_epoch) == (f"{location}/ckpt-e000003-b000000000.pt", 3)
    assert [f.epoch for f in saver.store.files()] == [2, 3]


def test_the_prune_at_a_resume_keeps_the_checkpoint_it_resumed_from(location):
    store = CheckpointStore(location, keep_last=3)
    for epoch in (1, 2, 3):
        store.save(payload(epoch), epoch, 0)
    store.storage.write("ckpt-e000003-b000000000.pt", lambda handle: handle.write(b"torn"))

    loaded = CheckpointSaver(path=location, keep_last=1).open_for_resume()

    assert loaded is not None and loaded.file.epoch == 2
    # keepLast 1 would keep only the unreadable newest one: the one resumed from stays too.
    assert [f.epoch for f in store.files()] == [2, 3]
