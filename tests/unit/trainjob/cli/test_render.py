"""The CLI's text pieces: durations read as kubectl ages."""

from __future__ import annotations

import datetime

import pytest

from trainjob.cli.render import human_duration

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
