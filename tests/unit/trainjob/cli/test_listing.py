"""`trainjob list`'s table."""

from __future__ import annotations

import datetime

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.cli.listing import trainjob_table

NOW = datetime.datetime(2024, 5, 1, 12, 10, tzinfo=datetime.UTC)


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
