"""The worker pods of a TrainJob's current attempt, and log lines split across chunks."""

from __future__ import annotations

import datetime

from trainjob.client.workers import Worker, latest_workers, split_lines, workers_of

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


def pod(name: str, attempt: int, index: int, phase: str = "Running", deleting: bool = False) -> dict:
    metadata = {
        "name": name,
        "labels": {
            "trainjob.dev/attempt": str(attempt),
            "batch.kubernetes.io/job-completion-index": str(index),
        },
        "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": metadata, "status": {"phase": phase}}


def test_the_current_attempts_workers_are_chosen_by_rank() -> None:
    pods = [
        pod("j-1-b", 1, 1),
        pod("j-0-a", 0, 0, "Failed"),
        pod("j-0-b", 1, 0),
        pod("j-1-a", 0, 1, deleting=True),
    ]
    workers = workers_of(pods)
    assert latest_workers(workers, 1) == [Worker("j-0-b", 1, 0, "Running"), Worker("j-1-b", 1, 1, "Running")]
    # while attempt 2 is being created, the latest pods there are stand in
    assert [w.pod for w in latest_workers(workers, 2)] == ["j-0-b", "j-1-b"]
    assert latest_workers([], 0) == []


def test_log_lines_are_split_across_chunks_and_the_last_unterminated_one_is_kept() -> None:
    chunks = [b"epo", b"ch 1\nepoch 2\n\nTrace", b"back \xff\n", b"killed"]
    assert list(split_lines(chunks)) == ["epoch 1", "epoch 2", "", "Traceback \ufffd", "killed"]
