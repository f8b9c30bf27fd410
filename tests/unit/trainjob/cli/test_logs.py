"""`trainjob logs`: which workers' logs, with which prefixes."""

from __future__ import annotations

import datetime

from trainjob.cli.logs import sources
from trainjob.client.workers import Worker

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


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
