"""The shared watch: the latest of every TrainJob, and each change told to every open page."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.client.connection import ClusterError
from trainjob.dashboard.hub import JobHub


def events(subscription: Any) -> list[tuple[str, Any]]:
    found = []
    while (data := subscription.next(0)) is not None:
        lines = dict(line.split(": ", 1) for line in data.decode().strip().split("\n"))
        found.append((lines["event"], json.loads(lines["data"])))
    return found


def job(name: str, epoch: int, loss: float) -> dict:
    return trainjob(name, phase="Running", progress={"epoch": epoch}, metrics={"loss": loss})


def test_a_page_gets_the_snapshot_then_each_change() -> None:
    hub = JobHub(lambda: iter(()))
    hub.apply("SYNC", [job("b", 1, 1.0), job("a", 1, 2.0)])
    page = hub.subscribe()
    hub.apply("MODIFIED", job("a", 2, 1.5))
    hub.apply("ADDED", job("c", 1, 3.0))
    hub.apply("DELETED", job("b", 1, 1.0))
    seen = events(page)
    assert [kind for kind, _ in seen] == ["snapshot", "update", "update", "delete"]
    assert [row["key"] for row in seen[0][1]["rows"]] == ["ml/a", "ml/b"]
    assert seen[1][1]["losses"] == [2.0, 1.5] and seen[1][1]["epoch"] == 2
    assert seen[3][1] == {"key": "ml/b"}
    assert [row["key"] for row in hub.rows()] == ["ml/a", "ml/c"]
    assert hub.get("ml", "a")["status"]["progress"]["epoch"] == 2 and hub.get("ml", "b") is None


def test_the_first_sync_starts_the_sparklines_from_the_histories() -> None:
    histories = {("ml", "a"): {"epochs": {"loss": {"points": [[1, 4.0], [2, 3.0]]}}}}
    hub = JobHub(lambda: iter(()), lambda: histories)
    hub.apply("SYNC", [job("a", 3, 2.0)])
    assert hub.rows()[0]["losses"] == [4.0, 3.0, 2.0]


def test_without_the_right_to_read_histories_the_sparklines_start_empty() -> None:
    def forbidden() -> dict:
        raise ClusterError("configmaps is forbidden", 403)

    hub = JobHub(lambda: iter(()), forbidden)
    hub.apply("SYNC", [job("a", 3, 2.0)])
    assert hub.rows()[0]["losses"] == [2.0]


def test_a_failing_watch_is_told_to_the_pages_and_retried() -> None:
    calls = []
    retried = threading.Event()

    def changes() -> Iterator[tuple[str, Any]]:
        calls.append(1)
        if len(calls) == 1:
            raise ClusterError("trainjobs is forbidden: User cannot list", 403)
        yield "SYNC", [job("a", 1, 1.0)]
        retried.set()
        threading.Event().wait()  # the watch goes on

    hub = JobHub(changes)
    page = hub.subscribe()
    hub.start()
    assert retried.wait(10) and hub.synced.is_set()
    seen = events(page)
    assert seen[0] == ("snapshot", {"rows": [], "error": None, "synced": False})
    assert seen[1] == ("watch-error", {"message": "trainjobs is forbidden: User cannot list"})
    assert seen[2][0] == "snapshot" and seen[2][1]["error"] is None and seen[2][1]["synced"] is True


def test_a_page_that_connects_before_the_first_list_is_told_it_is_not_synced_yet() -> None:
    """Before the watch's first list a page gets no rows, and must not take that for "no TrainJobs"."""
    hub = JobHub(lambda: iter(()))
    early = hub.subscribe()
    hub.apply("SYNC", [])
    late = hub.subscribe()
    assert [data["synced"] for _, data in events(early)] == [False, True]
    assert [(data["rows"], data["synced"]) for _, data in events(late)] == [([], True)]
