"""What kopf records of handling a TrainJob: a diff base from observedGeneration; retries only."""

from __future__ import annotations

from typing import Any

import kopf

from trainjob_operator.kopf_storage import ObservedGenerationDiffBase, RetryProgressStorage


def body(
    generation: int, observed: int | None = None, annotations: dict[str, str] | None = None
) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "mnist", "namespace": "ml", "generation": generation, "labels": {"team": "a"}},
        "spec": {"numNodes": 2},
    }
    if annotations:
        raw["metadata"]["annotations"] = annotations
    if observed is not None:
        raw["status"] = {"observedGeneration": observed, "phase": "Running"}
    return kopf.Body(raw)


def test_a_trainjob_whose_status_observed_its_generation_is_handled() -> None:
    storage = ObservedGenerationDiffBase()
    handled = body(generation=3, observed=3)
    assert storage.fetch(body=handled) == storage.build(body=handled), "no diff: nothing to handle"


def test_a_trainjob_not_yet_observed_at_its_generation_is_new() -> None:
    storage = ObservedGenerationDiffBase()
    assert storage.fetch(body=body(generation=1)) is None, "no status yet"
    assert storage.fetch(body=body(generation=4, observed=3)) is None, "its spec changed since"


def test_nothing_is_stored_on_the_object() -> None:
    storage = ObservedGenerationDiffBase()
    patch = kopf.Patch()
    handled = body(generation=1)
    storage.store(body=handled, patch=patch, essence=storage.build(body=handled))
    assert not patch, "no PATCH of the TrainJob to record what was handled"


def test_a_first_success_leaves_no_progress_record_and_no_marker() -> None:
    storage = RetryProgressStorage(prefix="trainjob.dev")
    patch = kopf.Patch()
    success: kopf.ProgressRecord = {"started": "2026-11-23T10:00:00", "stopped": "2026-11-23T10:00:01"}
    success.update(success=True, retries=1)
    storage.store(key=kopf.HandlerId("reconcile"), record=success, body=body(generation=1), patch=patch)
    assert not patch


def test_a_failure_is_recorded_for_the_retry_and_its_later_success_too() -> None:
    storage = RetryProgressStorage(prefix="trainjob.dev")
    key = kopf.HandlerId("reconcile")
    failed: kopf.ProgressRecord = {
        "started": "2026-11-23T10:00:00",
        "retries": 1,
        "delayed": "2026-11-23T10:00:10",
    }
    patch = kopf.Patch()
    storage.store(key=key, record=failed, body=body(generation=1), patch=patch)
    annotations = patch["metadata"]["annotations"]
    assert "trainjob.dev/reconcile" in annotations and annotations["trainjob.dev/kopf-managed"] == "yes"

    retried = body(generation=1, annotations=dict(annotations))
    success: kopf.ProgressRecord = {**failed, "success": True, "retries": 2}
    patch = kopf.Patch()
    storage.store(key=key, record=success, body=retried, patch=patch)
    assert '"success":true' in patch["metadata"]["annotations"]["trainjob.dev/reconcile"]
