"""The stop-request annotation as the in-pod watcher reads it."""

from __future__ import annotations

import pytest

from trainjob_api.names import STOP_ANNOTATION, stop_requested


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({STOP_ANNOTATION: "true"}, True),
        ({STOP_ANNOTATION: " True "}, True),
        ({STOP_ANNOTATION: "false"}, False),
        ({STOP_ANNOTATION: ""}, False),
        ({"other": "true"}, False),
        (None, False),
    ],
)
def test_only_a_true_stop_annotation_is_a_request(annotations: dict | None, expected: bool) -> None:
    assert stop_requested({"metadata": {"name": "job", "annotations": annotations}}) is expected


def test_a_job_without_metadata_is_not_asked_to_stop() -> None:
    assert stop_requested({}) is False
