"""The bounded training history: downsampling keeps the shape, the size stays under its bound."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from trainjob.reporting.history import (
    BUCKETS,
    EPOCHS,
    MAX_BYTES,
    MAX_POINTS,
    MAX_SERIES,
    STEPS,
    History,
    Series,
    round_value,
)


def _values(rng: random.Random, count: int) -> list[float]:
    """A noisy decaying curve with values of every magnitude (long reprs are the worst case)."""
    scale = 10.0 ** rng.randint(-300, 300)
    return [
        scale * (1.0 / (1 + i) + rng.gauss(0, 0.3)) * (-1 if rng.random() < 0.1 else 1) for i in range(count)
    ]


def _check_shape(points: list[list[float]], curve: list[float]) -> None:
    """The stored points keep the curve's first, last, lowest and highest value, in x order."""
    assert len(points) <= MAX_POINTS
    ys = [y for _, y in points]
    assert points[0] == [1, round_value(curve[0])]
    assert points[-1] == [len(curve), round_value(curve[-1])]
    assert min(ys) == round_value(min(curve))
    assert max(ys) == round_value(max(curve))
    assert [x for x, _ in points] == sorted({x for x, _ in points})


@settings(max_examples=10, deadline=None)
@given(epochs=st.integers(1, 100_000), seed=st.integers(0, 2**32 - 1))
@example(epochs=100_000, seed=1)
def test_one_series_of_any_length_keeps_its_shape(epochs: int, seed: int) -> None:
    curve = _values(random.Random(seed), epochs)
    series = Series()
    for x, y in enumerate(curve, start=1):
        series.add(x, y)
    _check_shape([[x, y] for x, y in series.points], curve)


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(epochs=st.integers(1, 100_000), metrics=st.integers(1, 50), seed=st.integers(0, 2**32 - 1))
@example(epochs=100_000, metrics=50, seed=1)
def test_any_run_stays_under_the_bound_and_keeps_first_last_min_max(
    epochs: int, metrics: int, seed: int
) -> None:
    rng = random.Random(seed)
    names = [f"metric_{'x' * rng.randint(0, 80)}_{index}" for index in range(metrics)]
    curves = {name: _values(rng, epochs) for name in names}
    history = History()
    history.begin_attempt()
    for epoch in range(1, epochs + 1):
        values = {name: curve[epoch - 1] for name, curve in curves.items()}
        history.ingest(
            {"progress": {"epoch": epoch, "step": epoch * 10}, "metrics": {"values": values}}, epoch_end=True
        )
    text = history.to_json()
    assert len(text.encode()) <= MAX_BYTES
    stored = json.loads(text)[EPOCHS]
    for name, curve in curves.items():
        _check_shape(stored[name]["points"], curve)


def test_the_worst_case_document_fills_but_does_not_pass_the_bound() -> None:
    """Every series full, longest names, every attempt marked: the bound holds and is not loose."""
    history = History()
    rng = random.Random(0)
    for attempt in range(150):
        history.begin_attempt()
        history.ingest({"progress": {"epoch": attempt, "step": 10**14 + attempt}}, epoch_end=True)
    for index in range(MAX_SERIES + 5):
        name = f"{index:03d}" + "n" * 97
        for x in range(10**14, 10**14 + 2000):
            history.record(STEPS, name, x, -rng.random() * 1e-300)
    size = len(history.to_json().encode())
    assert history.series_count() == MAX_SERIES
    assert 0.8 * MAX_BYTES < size <= MAX_BYTES


def test_points_spread_evenly_over_the_run() -> None:
    series = Series()
    for x in range(10_000):
        series.add(x, math.sin(x / 300))
    xs = [x for x, _ in series.points]
    assert len(xs) <= MAX_POINTS
    halves = sum(x < 5000 for x in xs), sum(x >= 5000 for x in xs)
    assert abs(halves[0] - halves[1]) <= 4
    assert series.width * BUCKETS >= 10_000 > series.width * BUCKETS // 2


def test_a_short_run_is_kept_whole() -> None:
    series = Series()
    for x, y in enumerate([3.0, 1.0, 2.0, 5.0, 4.0]):
        series.add(x, y)
    assert series.points == [(0, 3.0), (1, 1.0), (2, 2.0), (3, 5.0), (4, 4.0)]


def test_a_restart_from_an_earlier_checkpoint_supersedes_the_abandoned_points_and_is_marked() -> None:
    history = History()
    history.begin_attempt()
    for epoch in range(1, 6):
        history.ingest(
            {"progress": {"epoch": epoch, "step": epoch}, "metrics": {"values": {"loss": 1.0 / epoch}}},
            epoch_end=True,
        )
    resumed = History.from_json(history.to_json())
    assert resumed.begin_attempt() == 1
    for epoch in range(4, 8):
        fragment = {"progress": {"epoch": epoch, "step": epoch}, "metrics": {"values": {"loss": 2.0 / epoch}}}
        resumed.ingest(fragment, epoch_end=True)
    document = resumed.to_dict()
    assert document["epochs"]["loss"]["points"] == [
        [1, 1.0],
        [2, 0.5],
        [3, round_value(1 / 3)],
        [4, 0.5],
        [5, 0.4],
        [6, round_value(2 / 6)],
        [7, round_value(2 / 7)],
    ]
    assert [(a["attempt"], a["epoch"]) for a in document["attempts"]] == [(0, 1), (1, 4)]


def test_steps_and_epochs_are_separate_series_and_markers_are_kept() -> None:
    history = History()
    history.ingest(
        {"progress": {"step": 7, "epoch": 1}, "metrics": {"values": {"loss": 0.9}}}, epoch_end=False
    )
    history.ingest(
        {
            "progress": {"step": 10, "epoch": 1, "lastUpdateTime": "2026-01-01T00:00:00Z"},
            "metrics": {
                "values": {"loss": 0.8, "val_loss": 0.7, "flag": True, "bad": math.nan},
                "monitor": "val_loss",
                "best": 0.7,
                "bestEpoch": 1,
            },
            "earlyStopping": {"triggered": True, "epoch": 1, "reason": "NoImprovement"},
        },
        epoch_end=True,
    )
    document = history.to_dict()
    assert document["steps"] == {"loss": {"width": 1, "points": [[7, 0.9]]}}
    assert set(document["epochs"]) == {"loss", "val_loss"}
    assert document["best"] == {"metric": "val_loss", "value": 0.7, "epoch": 1}
    assert document["earlyStop"] == {"epoch": 1, "reason": "NoImprovement"}
    assert History.from_dict(document).to_dict() == document


def test_a_document_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        History.from_dict({"version": 99})
