"""Real multi-process DDP with Gloo, through the local runner: equivalence, agreed stops, resume."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.distributed.conftest import tiny_spec
from trainjob.checkpointing import CheckpointStore

pytestmark = pytest.mark.slow


def weights(report: dict) -> list[torch.Tensor]:
    return [torch.tensor(w) for w in report["weights"]]


def assert_same_weights(a: dict, b: dict, atol: float = 1e-5) -> None:
    for left, right in zip(weights(a), weights(b), strict=True):
        torch.testing.assert_close(left, right, atol=atol, rtol=1e-4)


def wait_for(path: Path, local, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        assert local.status.completion_time is None, "the run ended before the marker appeared"
        time.sleep(0.05)


def test_two_rank_ddp_matches_single_process(run_job, tmp_path):
    single = run_job(
        tiny_spec(1, 1, ["--out", str(tmp_path / "one"), "--batch-size", "16"]), tmp_path / "one", name="one"
    )
    ddp = run_job(
        tiny_spec(2, 1, ["--out", str(tmp_path / "two"), "--batch-size", "8"]), tmp_path / "two", name="two"
    )
    assert single.status.phase == ddp.status.phase == "Succeeded", ddp.lines
    assert sorted(ddp.ranks) == [0, 1]
    assert_same_weights(single.ranks[0], ddp.ranks[0])
    assert_same_weights(ddp.ranks[0], ddp.ranks[1], atol=0)
    assert ddp.ranks[0]["global_step"] == single.ranks[0]["global_step"] == 3 * 16
    # Leaving the group destroyed it: it does not live on to be torn down with the interpreter.
    assert [ddp.ranks[rank]["group_outlived_fit"] for rank in (0, 1)] == [False, False]


def test_accumulation_under_ddp_matches_one_large_batch(run_job, tmp_path):
    large = run_job(
        tiny_spec(1, 1, ["--out", str(tmp_path / "a"), "--batch-size", "16"]), tmp_path / "a", name="a"
    )
    accumulated = run_job(
        tiny_spec(1, 2, ["--out", str(tmp_path / "b"), "--batch-size", "4", "--accumulate", "2"]),
        tmp_path / "b",
        name="b",
    )
    assert accumulated.status.phase == "Succeeded", accumulated.lines
    assert_same_weights(large.ranks[0], accumulated.ranks[0])


def test_a_stop_seen_by_one_rank_stops_every_rank_at_the_same_step(run_job, tmp_path):
    out = tmp_path / "out"
    run = run_job(tiny_spec(2, 1, ["--out", str(out), "--stop-rank", "1", "--stop-step", "5"]), out)
    assert run.status.phase == "Succeeded", run.lines
    assert run.ranks[0]["global_step"] == run.ranks[1]["global_step"] == 5
    assert run.ranks[0]["stop"][0] == "StopRequested"
    assert "rank 1" in run.ranks[0]["stop"][1]


def test_sigterm_to_one_worker_stops_all_gracefully_with_a_checkpoint(run_job, tmp_path):
    out = tmp_path / "out"
    spec = tiny_spec(
        2,
        1,
        ["--out", str(out), "--sleep", "0.05", "--marker-step", "6"],
        maxEpochs=50,
        checkpoint={"path": "ckpt", "everyEpochs": 100, "keepLast": 2, "resume": True},
    )

    def terminate_node_1(local):
        wait_for(out / "marker", local)
        os.kill(local.worker_pids()["node-1"], signal.SIGTERM)

    run = run_job(spec, out, during=terminate_node_1)
    # Both ranks stop together and exit 143, so Kubernetes never counts a stopped worker as done.
    # (a rank still exiting when the runner stops the rest may end by that SIGTERM: -15).
    codes = [exit_.code for exit_ in run.status.exits]
    assert codes[0] == 143 and set(codes) <= {143, -15} and len(codes) == 2, run.lines
    assert run.ranks == {}
    latest = CheckpointStore(run.run_dir / "ckpt", 2).latest()
    assert latest is not None and 6 <= latest.epoch * 8 + latest.batch < 50 * 8


def test_a_killed_worker_restarts_the_group_and_resumes_to_the_same_result(run_job, tmp_path):
    checkpoint = {"path": "ckpt", "everyEpochs": 1, "keepLast": 2, "resume": True}
    clean = run_job(
        tiny_spec(2, 1, ["--out", str(tmp_path / "clean")], maxEpochs=4, checkpoint=checkpoint),
        tmp_path / "clean",
        name="clean",
    )
    out = tmp_path / "crash"
    spec = tiny_spec(
        2,
        1,
        ["--out", str(out), "--crash-rank", "1", "--crash-step", str(2 * 8 + 3)],
        maxEpochs=4,
        checkpoint=checkpoint,
        runPolicy={"backoffLimit": 1},
    )
    crashed = run_job(spec, out, name="crash")
    assert crashed.status.restarts == 1, crashed.lines
    assert crashed.status.phase == "Succeeded", crashed.lines
    assert any("exit code 3" in line and "restarting" in line for line in crashed.lines)
    assert_same_weights(clean.ranks[0], crashed.ranks[0], atol=1e-6)
    assert crashed.ranks[0]["global_step"] == clean.ranks[0]["global_step"] == 4 * 8


def test_a_dead_worker_fails_the_run_and_leaves_no_process(run_job, tmp_path):
    out = tmp_path / "out"
    seen: dict[str, int] = {}

    def remember_pids(local):
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            seen.update(local.worker_pids())
            time.sleep(0.01)

    spec = tiny_spec(2, 2, ["--out", str(out), "--crash-rank", "3", "--crash-step", "4"], maxEpochs=50)
    run = run_job(spec, out, during=remember_pids)
    assert run.status.phase == "Failed"
    assert run.document["failure"]["worker"] == "node-1"
    assert run.document["failure"]["exitCode"] == 3
    assert len(seen) == 2
    for pid in seen.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not list(Path("/proc").glob("*/cmdline")) or not _running(str(out))


def _running(marker: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker in cmdline.read_bytes().decode(errors="replace"):
                return True
        except OSError:
            continue
    return False
