"""The cluster CLI's pure parts: durations, tables, the status view, worker selection, log lines,
the watch view and the kubeconfig choice. The commands themselves run against the real control
plane in tests/e2e/test_cli_on_cluster.py."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
import yaml

from trainjob.cli.describe import describe
from trainjob.cli.listing import trainjob_table
from trainjob.cli.logs import sources
from trainjob.cli.render import human_duration, metrics_text, progress_text
from trainjob.cli.watch import WatchView
from trainjob.cluster.connection import ClusterError, connect
from trainjob.cluster.workers import Worker, latest_workers, split_lines, workers_of
from trainjob.progress_bar import status_bar_update

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (45, "45s"),
        (119, "119s"),
        (200, "3m20s"),
        (240, "4m"),
        (25 * 60 + 7, "25m"),
        (5 * 3600 + 12 * 60, "5h12m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (20 * 86400, "20d"),
        (2 * 365 * 86400 + 30 * 86400, "2y30d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_durations_read_as_kubectl_ages(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def trainjob(name: str = "digits", namespace: str = "ml", **status: object) -> dict:
    return {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": "2024-05-01T12:00:00Z"},
        "spec": {"numNodes": 2, "numProcPerNode": 1, "runPolicy": {"backoffLimit": 1}},
        "status": status,
    }


def test_a_failed_job_shows_who_failed_why_and_how_it_ended() -> None:
    job = trainjob(
        phase="Failed",
        startTime="2024-05-01T12:00:00Z",
        completionTime="2024-05-01T12:05:30Z",
        restarts=1,
        earlyStopping={
            "triggered": True,
            "reason": "NoImprovement",
            "message": "val_loss stalled",
            "epoch": 4,
        },
        stoppedOnRequest=True,
        failure={"worker": 1, "pod": "digits-1-x", "exitCode": 137, "reason": "OOMKilled"},
        conditions=[
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "worker 1 died"}
        ],
    )
    lines = describe(job, NOW).splitlines()
    assert "Phase:          Failed" in lines
    assert "Finished:       2024-05-01T12:05:30Z (4m30s ago), ran 5m30s" in lines
    assert "Restarts:       1 (backoffLimit 1)" in lines
    assert any(line.startswith("Progress:       none: the script reported no progress") for line in lines)
    assert "Early stopping: stopped at epoch 4: val_loss stalled" in lines
    assert "Stop:           stopped on request" in lines
    assert "Failure:        worker 1 (pod digits-1-x), exit code 137, OOMKilled" in lines
    assert lines[-1].split() == ["Failed", "True", "BackoffLimitExceeded", "-", "worker", "1", "died"]


def test_a_new_job_shows_what_it_is_and_that_a_stop_was_asked() -> None:
    job = trainjob()
    job["metadata"]["annotations"] = {"trainjob.dev/stop-requested": "true"}
    lines = describe(job, NOW).splitlines()
    assert lines[:4] == [
        "Name:           digits",
        "Namespace:      ml",
        "Phase:          Pending",
        "Workers:        2 node(s) x 1 process(es)",
    ]
    assert any(line.startswith("Stop:           requested (trainjob.dev/stop-requested)") for line in lines)
    assert not any(line.startswith(("Metrics", "Conditions", "Failure")) for line in lines)


def test_progress_and_metrics_say_what_is_known() -> None:
    status = {
        "progress": {"epoch": 2, "totalEpochs": 5, "percent": 40, "samplesPerSecond": 0},
        "metrics": {"loss": 0.5, "valLoss": 0.25, "values": {"val_accuracy": 0.9}},
    }
    assert progress_text(status) == "epoch 2/5, 40.0%, loss 0.5"
    assert metrics_text(status["metrics"]) == "loss 0.5, val_accuracy 0.9, val_loss 0.25"
    assert status_bar_update({}) is None
    assert status_bar_update(status) == {"completed": 40.0, "epoch": "2/5", "loss": "0.5000", "rate": ""}


def test_a_job_whose_script_reports_nothing_says_so_and_how_to_report() -> None:
    assert progress_text({"phase": "Pending"}) == "no progress reported yet"
    running = progress_text({"phase": "Running"})
    assert running.startswith("none reported yet") and "trainjob.report(" in running
    ended = describe(trainjob(phase="Succeeded"), NOW)
    assert "Progress:       none: the script reported no progress" in ended
    assert "Lightning" in ended and "trainjob.report(" in ended


def test_progress_with_steps_only_shows_no_empty_epoch() -> None:
    assert progress_text({"progress": {"step": 40, "totalSteps": 100, "percent": 40}}) == "step 40/100, 40.0%"
    assert progress_text({"progress": {"step": 40}}) == "step 40"


def test_the_table_has_kubectls_columns_and_a_namespace_column_for_all_namespaces() -> None:
    running = trainjob("b", "ml", phase="Running", progress={"epoch": 3, "totalEpochs": 8, "percent": 37.5})
    running["status"]["metrics"] = {"loss": 0.123456}
    rows = trainjob_table([running, trainjob("a", "dev")], NOW, namespaces=True).splitlines()
    assert [row.split() for row in rows] == [
        ["NAMESPACE", "NAME", "PHASE", "NODES", "EPOCH", "PROGRESS", "LOSS", "AGE"],
        ["dev", "a", "Pending", "2", "-", "-", "-", "10m"],
        ["ml", "b", "Running", "2", "3/8", "37.5%", "0.1235", "10m"],
    ]
    assert rows[0].index("PHASE") == rows[1].index("Pending") == rows[2].index("Running")  # aligned


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


def test_each_worker_gets_its_rank_prefix_and_rank_selects_lines() -> None:
    workers = [Worker("p0", 0, 0, "Running"), Worker("p1", 0, 1, "Running")]
    assert [(s.worker.pod, s.prefix) for s in sources(workers, 1, None)] == [
        ("p0", "[rank 0]"),
        ("p1", "[rank 1]"),
    ]
    assert [s.worker.pod for s in sources(workers, 1, 1)] == ["p1"]
    # two processes per pod: the node launcher prefixes ranks itself; rank 3 is on node 1
    (only,) = sources(workers, 2, 3)
    assert only.prefix == "[node 1]"
    assert list(only.lines(iter(["[rank 2] a", "[rank 3] b", "trainjob.launch: x"]))) == [
        "[node 1] [rank 3] b"
    ]
    assert [s.prefix for s in sources(workers, 2, None)] == ["[node 0]", "[node 1]"]


def test_log_lines_are_split_across_chunks_and_the_last_unterminated_one_is_kept() -> None:
    chunks = [b"epo", b"ch 1\nepoch 2\n\nTrace", b"back \xff\n", b"killed"]
    assert list(split_lines(chunks)) == ["epoch 1", "epoch 2", "", "Traceback \ufffd", "killed"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def job_at(phase: str, epoch: int | None, message: str = "") -> dict:
    status: dict = {"phase": phase}
    if message:
        status["conditions"] = [{"type": phase, "status": "True", "message": message}]
    if epoch is not None:
        status["progress"] = {"epoch": epoch, "totalEpochs": 2, "percent": 50.0 * epoch}
        status["metrics"] = {"loss": 1.0 / epoch}
    return trainjob(**status)


def test_off_a_terminal_the_watch_prints_a_line_per_phase_and_epoch() -> None:
    out = io.StringIO()
    with WatchView(out) as view:
        for job in (
            job_at("Created", None, "made"),
            job_at("Running", 1),
            job_at("Running", 1),
            job_at("Running", 2),
        ):
            view.show(job)
        view.show(job_at("Succeeded", 2, "all done"))
    assert out.getvalue().splitlines() == [
        "digits: Created (made)",
        "digits: Running",
        "  epoch 1/2, 50.0%, loss 1",
        "  epoch 2/2, 100.0%, loss 0.5",
        "digits: Succeeded (all done)",
        "  epoch 2/2, 100.0%, loss 0.5",
    ]


def test_on_a_terminal_the_watch_draws_the_training_bar() -> None:
    out = Terminal()
    with WatchView(out) as view:
        view.show(job_at("Running", 1))
        view.show(job_at("Running", 2))
    text = out.getvalue()
    assert "digits: Running" in text
    assert "epoch 2/2" in text and "100.0%" in text and "loss 0.5000" in text


def kubeconfig(path: Path, current: str, contexts: dict[str, str | None]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {
                        "name": name,
                        "context": {"cluster": "c", "user": "u", **({"namespace": ns} if ns else {})},
                    }
                    for name, ns in contexts.items()
                ],
                "current-context": current,
            }
        )
    )
    return path


def test_the_namespace_and_context_are_chosen_as_kubectl_chooses_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = kubeconfig(tmp_path / "first", "team", {"team": "ml", "bare": None})
    monkeypatch.setenv("KUBECONFIG", str(first))
    assert (connect().context, connect().namespace) == ("team", "ml")
    assert connect(namespace="other").namespace == "other"
    assert connect(context="bare").namespace == "default"
    assert connect().api.configuration.host == "https://127.0.0.1:6443"
    second = kubeconfig(tmp_path / "second", "prod", {"prod": "serving"})
    assert connect(str(second)).namespace == "serving"  # --kubeconfig wins over $KUBECONFIG
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{first}")  # a list, as kubectl reads it
    assert connect().namespace == "ml"
    with pytest.raises(ClusterError, match='context "nowhere" is not in the kubeconfig'):
        connect(context="nowhere")
    with pytest.raises(ClusterError, match="no usable kubeconfig"):
        connect(str(tmp_path / "missing"))
