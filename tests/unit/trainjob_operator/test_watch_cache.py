"""The watch cache's trust rules: floors left by writes and fresh reads, self-consistency, expiry."""

from __future__ import annotations

from typing import Any

import pytest

from trainjob_operator.watch_cache import (
    WatchCache,
    consistent,
    job_entry,
    pod_entry,
    trainjob_entry,
)

KEY = ("ml", "mnist")


def job(uid: str = "job-1", version: int = 10, *, deleting: bool = False, **status: Any) -> dict[str, Any]:
    metadata = {"name": "mnist", "namespace": "ml", "uid": uid, "resourceVersion": str(version)}
    metadata["labels"] = {"trainjob.dev/name": "mnist"}
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": metadata, "spec": {"suspend": False}, "status": status}


def pod(
    name: str, version: int = 10, *, phase: str = "Running", owner: str = "job-1", deleting: bool = False
) -> dict[str, Any]:
    metadata = {
        "name": name,
        "namespace": "ml",
        "uid": f"uid-{name}",
        "resourceVersion": str(version),
        "labels": {"trainjob.dev/name": "mnist"},
        "ownerReferences": [{"kind": "Job", "uid": owner, "controller": True}],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    return {"metadata": metadata, "status": {"phase": phase}}


def trainjob(uid: str = "tj-1", version: int = 10, restarts: int = 0) -> dict[str, Any]:
    metadata = {"name": "mnist", "namespace": "ml", "uid": uid, "resourceVersion": str(version)}
    return {"metadata": metadata, "spec": {"numNodes": 2}, "status": {"restarts": restarts}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cache_with(
    clock: Clock, jobs: list[dict[str, Any]] | None = None, pods: list[dict[str, Any]] | None = None
) -> WatchCache:
    return WatchCache({KEY: jobs or []}, {KEY: pods or []}, verify_seconds=300, clock=clock)


def show(cache: WatchCache, jobs: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
    """What the watch has brought so far (the indexes are plain mappings here)."""
    cache.jobs[KEY][:] = jobs  # type: ignore[index]
    cache.pods[KEY][:] = pods  # type: ignore[index]


def test_entries_key_children_by_trainjob_and_strip_what_the_planner_does_not_read() -> None:
    body = job(**{"active": 2})
    body["metadata"]["managedFields"] = [{"manager": "kube-controller-manager"}]
    body["spec"]["template"] = {"spec": {"containers": [{"name": "worker"}]}}
    ((key, snapshot),) = job_entry(body).items()
    assert key == KEY
    assert "managedFields" not in snapshot["metadata"] and snapshot["spec"] == {"suspend": False}
    assert snapshot["status"] == {"active": 2}
    body["status"]["active"] = 0
    assert snapshot["status"] == {"active": 2}, "a copy, not the live body"
    other = job()
    other["metadata"]["name"] = "mnist-extra"
    assert job_entry(other) == {}, "only the Job named after its TrainJob"
    worker = pod("mnist-0-a")
    worker["spec"] = {"containers": []}
    assert list(pod_entry(worker)) == [KEY] and "spec" not in pod_entry(worker)[KEY]


def test_an_index_without_writes_is_trusted_absent_or_present(clock: Clock) -> None:
    assert cache_with(clock).read(KEY) == (None, [])
    cache = cache_with(clock, [job()], [pod("mnist-0-a")])
    found, pods = cache.read(KEY)
    assert found == job() and pods == [pod("mnist-0-a")]


def test_a_created_job_is_trusted_once_the_watch_shows_it(clock: Clock) -> None:
    cache = cache_with(clock)
    cache.wrote_job(KEY, job("job-1", 11))
    assert cache.read(KEY) is None, "the index does not show the Job yet"
    show(cache, [job("job-1", 11)], [])
    assert cache.read(KEY) is not None
    show(cache, [], [])
    assert cache.read(KEY) == (None, []), "once met, a floor is gone: a later deletion is news"


def test_a_patched_job_needs_its_version_or_a_later_one(clock: Clock) -> None:
    cache = cache_with(clock, [job("job-1", 10)])
    cache.wrote_job(KEY, job("job-1", 12))
    assert cache.read(KEY) is None
    show(cache, [job("job-1", 13)], [])
    assert cache.read(KEY) is not None, "a later version (events coalesce) shows the patch too"


def test_a_create_that_found_the_job_existing_has_the_next_reconcile_read_fresh(clock: Clock) -> None:
    cache = cache_with(clock)
    cache.wrote_job(KEY, None)
    assert cache.read(KEY) is None, "a Job exists that the index does not show"
    cache.read_fresh(KEY, job("job-1", 11), [], "11")
    show(cache, [job("job-1", 11)], [])
    assert cache.read(KEY) is not None


def test_a_deleted_job_is_trusted_once_gone_terminating_or_replaced(clock: Clock) -> None:
    for shown in ([], [job("job-1", 12, deleting=True)], [job("job-2", 14)]):
        cache = cache_with(clock, [job("job-1", 10)])
        cache.deleted_job(KEY, "job-1")
        assert cache.read(KEY) is None
        show(cache, shown, [])
        assert cache.read(KEY) is not None, shown


def test_deleted_pods_are_trusted_once_gone_or_terminating(clock: Clock) -> None:
    cache = cache_with(clock, [], [pod("mnist-0-a"), pod("mnist-1-b")])
    cache.deleted_pods(KEY, ["mnist-0-a", "mnist-1-b"])
    assert cache.read(KEY) is None
    show(cache, [], [pod("mnist-0-a", 11, deleting=True), pod("mnist-1-b")])
    assert cache.read(KEY) is None, "one of them still shows as it was"
    show(cache, [], [pod("mnist-0-a", 11, deleting=True)])
    assert cache.read(KEY) is not None


def test_a_fresh_read_must_be_caught_up_with(clock: Clock) -> None:
    cache = cache_with(clock, [job("job-1", 10)], [pod("mnist-0-a", 10)])
    cache.read_fresh(KEY, job("job-1", 15), [pod("mnist-0-a", 14), pod("mnist-1-b", 15)], "16")
    assert cache.read(KEY) is None, "older than the fresh read"
    show(cache, [job("job-1", 15)], [pod("mnist-0-a", 14), pod("mnist-1-b", 15), pod("mnist-2-c", 17)])
    assert cache.read(KEY) is not None, "a pod newer than the list is fine"


def test_an_entry_whose_deletion_the_watch_missed_is_caught_by_a_fresh_read(clock: Clock) -> None:
    cache = cache_with(clock, [job("job-1", 10)], [pod("mnist-0-a", 9)])
    cache.read_fresh(KEY, None, [], "20")
    assert cache.read(KEY) is None, "the index shows a Job the apiserver does not have"
    show(cache, [], [pod("mnist-0-a", 9)])
    assert cache.read(KEY) is None, "nor a pod older than the list that the list did not show"
    show(cache, [], [])
    assert cache.read(KEY) == (None, [])


def test_the_index_is_read_fresh_again_after_verify_seconds_and_after_a_failed_reconcile(
    clock: Clock,
) -> None:
    cache = cache_with(clock, [job()])
    assert cache.read(KEY) is not None
    clock.now = 301
    assert cache.read(KEY) is None
    cache.read_fresh(KEY, job(), [], "10")
    assert cache.read(KEY) is not None
    cache.expire(KEY)
    assert cache.read(KEY) is None


def test_two_jobs_of_one_name_are_read_fresh(clock: Clock) -> None:
    assert cache_with(clock, [job("job-1"), job("job-2")]).read(KEY) is None


def test_a_job_counting_failures_the_pods_do_not_show_is_inconsistent() -> None:
    failed = job(failed=1)
    assert not consistent(failed, [pod("mnist-0-a")])
    assert consistent(failed, [pod("mnist-0-a", phase="Failed")])
    assert not consistent(failed, [pod("mnist-0-a", phase="Failed", owner="job-0")]), "another Job's pod"
    uncounted = job(uncountedTerminatedPods={"succeeded": ["uid-mnist-0-a"]})
    assert not consistent(uncounted, [])
    assert consistent(uncounted, [pod("mnist-0-a", phase="Succeeded")])
    assert consistent(None, [pod("mnist-0-a", phase="Failed")])


def test_a_read_is_a_copy(clock: Clock) -> None:
    cache = cache_with(clock, [job()], [pod("mnist-0-a")])
    found, pods = cache.read(KEY)
    found["status"]["failed"] = 3
    pods.clear()
    assert cache.read(KEY) == (job(), [pod("mnist-0-a")])


def test_a_trainjob_entry_is_all_of_it_but_managed_fields_under_its_own_key() -> None:
    body = trainjob()
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    ((key, snapshot),) = trainjob_entry(body).items()
    assert key == KEY and snapshot == trainjob()
    body["status"]["restarts"] = 1
    assert snapshot["status"] == {"restarts": 0}, "a copy, not the live body"


def test_a_trainjob_is_served_until_a_write_the_index_does_not_show_yet(clock: Clock) -> None:
    cache = cache_with(clock)
    assert cache.trainjob(KEY) is None, "absent from the index: read fresh"
    cache.trainjobs = {KEY: [trainjob(version=10)]}
    assert cache.trainjob(KEY) == trainjob(version=10), "no write of it yet: the index as it stands"
    cache.saw_trainjob(KEY, trainjob(version=12, restarts=1))
    assert cache.trainjob(KEY) is None, "older than the reconciler's own status write"
    cache.trainjobs = {KEY: [trainjob(version=13, restarts=1)]}
    assert cache.trainjob(KEY) == trainjob(version=13, restarts=1), "a later version shows it too"
    cache.trainjobs = {KEY: [trainjob("tj-2", version=20)]}
    assert cache.trainjob(KEY) is None, "another TrainJob of the same name"
    cache.saw_trainjob(KEY, trainjob("tj-2", version=20))
    assert cache.trainjob(KEY) is not None, "the fresh read of it set the floor"
    cache.saw_trainjob(KEY, None)
    cache.trainjobs = {KEY: [trainjob("tj-1", version=5)]}
    assert cache.trainjob(KEY) is not None, "gone when read: no floor"
    cache.saw_trainjob(KEY, trainjob(version=6))
    cache.forget(KEY)
    assert cache.trainjob(KEY) is not None, "forgotten with the rest"


def test_a_served_trainjob_is_a_copy(clock: Clock) -> None:
    cache = cache_with(clock)
    cache.trainjobs = {KEY: [trainjob()]}
    cache.trainjob(KEY)["status"]["restarts"] = 3
    assert cache.trainjob(KEY) == trainjob()


def test_a_cache_that_is_not_serving_has_every_read_fresh(clock: Clock) -> None:
    cache = WatchCache({KEY: [job()]}, {KEY: []}, {KEY: [trainjob()]}, clock=clock, serving=False)
    assert cache.read(KEY) is None and cache.trainjob(KEY) is None
    cache.read_fresh(KEY, job(), [], "10")
    assert cache.read(KEY) is None, "recorded, still not served"
