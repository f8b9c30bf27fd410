"""Each TrainJob, its Job and its pods from the operator's watches, trusted only where fresh enough.

kopf feeds three indexes from its watch streams (see `handlers`): the TrainJobs, and the Job and
the pods of each TrainJob, keyed by (namespace, TrainJob name), as plain snapshots
(`trainjob_snapshot`, `job_snapshot`, `pod_snapshot`). kopf holds every handler until all have
their initial list, so a Job absent from the index is absent from the cluster, as of the watch.

A watch lags: after the reconciler's own write (a Job created, patched or deleted, pods deleted) the
index may still show the state before it, and acting on that would repeat or undo the write. So
each write leaves a *floor* (`JobAt`, `JobGone`, `PodsGone`): the least the index must show of
that TrainJob before it is trusted again. Until then, or while the index contradicts itself (two
Jobs of one name, a Job that counts more failed or succeeded pods than the index holds), or once
`verify_seconds` have passed since the last fresh read, the reconciler reads the Job and pods
fresh from the apiserver; such a read leaves floors too (`JobAt` or `NoJob`, `PodsAt`), which also
catch an index entry the watch missed the deletion of.

The TrainJob has a floor of its own: the version of the reconciler's last status write or fresh
read of it. Its status carries the restarts counted so far, so a reconcile that read it older than
that could count a restart twice. A TrainJob absent from the index is read fresh.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trainjob_api.names import LABEL_NAME, job_name
from trainjob_api.types import Body
from trainjob_operator.status.observe import controller_uid

#: (namespace, TrainJob name).
Key = tuple[str, str]
#: A kopf index as the reconciler reads it: the snapshots stored under each key.
Index = Mapping[Key, Iterable[Body]]
#: How long the index of a TrainJob is trusted without a fresh read (an entry whose deletion the
#: watch missed, across a relist, cannot outlive it).
VERIFY_SECONDS = 300.0


def _metadata(body: Body) -> dict[str, Any]:
    metadata = copy.deepcopy(dict(body.get("metadata") or {}))
    metadata.pop("managedFields", None)
    return metadata


def trainjob_snapshot(body: Body) -> dict[str, Any]:
    """A TrainJob as the reconciler reads it: all of it but managedFields."""
    return {**copy.deepcopy(dict(body)), "metadata": _metadata(body)}


def trainjob_entry(body: Body) -> dict[Key, dict[str, Any]]:
    """The index entry of a TrainJob: its snapshot under its own key."""
    metadata = body.get("metadata") or {}
    return {(metadata["namespace"], metadata["name"]): trainjob_snapshot(body)}


def job_snapshot(body: Body) -> dict[str, Any]:
    """What the planner reads of a Job: its metadata (without managedFields), `spec.suspend`, status."""
    return {
        "metadata": _metadata(body),
        "spec": {"suspend": bool((body.get("spec") or {}).get("suspend"))},
        "status": copy.deepcopy(dict(body.get("status") or {})),
    }


def pod_snapshot(body: Body) -> dict[str, Any]:
    """What the planner reads of a pod: its metadata (without managedFields) and status."""
    return {"metadata": _metadata(body), "status": copy.deepcopy(dict(body.get("status") or {}))}


def job_entry(body: Body) -> dict[Key, dict[str, Any]]:
    """The index entry of a Job labelled with a TrainJob's name: none unless it has its Job's name."""
    metadata = body.get("metadata") or {}
    trainjob = (metadata.get("labels") or {}).get(LABEL_NAME)
    if not trainjob or metadata.get("name") != job_name(trainjob):
        return {}
    return {(metadata["namespace"], trainjob): job_snapshot(body)}


def pod_entry(body: Body) -> dict[Key, dict[str, Any]]:
    """The index entry of a pod labelled with a TrainJob's name."""
    metadata = body.get("metadata") or {}
    trainjob = (metadata.get("labels") or {}).get(LABEL_NAME)
    return {(metadata["namespace"], trainjob): pod_snapshot(body)} if trainjob else {}


def version(body: Body) -> int | None:
    """An object's resourceVersion as a number (comparable since Kubernetes 1.35), else None."""
    value = str((body.get("metadata") or {}).get("resourceVersion") or "")
    return int(value) if value.isdigit() else None


def _uid(body: Body | None) -> str | None:
    return None if body is None else (body.get("metadata") or {}).get("uid")


def _deleting(body: Body) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


class Floor(Protocol):
    """The least the index must show of one TrainJob's Job and pods before it is trusted."""

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index's Job and pods show this much."""


def _not_older(body: Body | None, uid: str | None, at: int | None) -> bool:
    """Whether `body` is the object `uid` at version `at` or later."""
    if body is None or _uid(body) != uid:
        return False
    current = version(body)
    return current is not None and at is not None and current >= at


@dataclass(frozen=True)
class JobAt:
    """The Job `uid` at version `at` or later (it was created, patched or read so)."""

    uid: str | None
    at: int | None

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index shows that Job at that version or later."""
        return _not_older(job, self.uid, self.at)


@dataclass(frozen=True)
class NoJob:
    """No Job (a fresh read found none)."""

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index shows no Job."""
        return job is None


@dataclass(frozen=True)
class JobGone:
    """The Job `uid` deleted: gone, being deleted, or replaced by another."""

    uid: str | None

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index shows the deletion."""
        return job is None or _uid(job) != self.uid or _deleting(job)


@dataclass(frozen=True)
class PodsAt:
    """The pods of a fresh list: each at its listed version or later, and no older pod besides."""

    #: Each listed pod's name: its uid and version.
    listed: Mapping[str, tuple[str | None, int | None]]
    #: The list's resourceVersion: a pod it did not show must be newer.
    at: int | None

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index holds every listed pod, as new, and nothing the list should have shown."""
        by_name = {pod["metadata"]["name"]: pod for pod in pods}
        if any(not _not_older(by_name.get(name), uid, at) for name, (uid, at) in self.listed.items()):
            return False
        unlisted = [pod for name, pod in by_name.items() if name not in self.listed]
        return all(_not_older(pod, _uid(pod), (self.at or 0) + 1) for pod in unlisted)


@dataclass(frozen=True)
class PodsGone:
    """Pods deleted by name: gone or terminating."""

    names: frozenset[str]

    def met_by(self, job: Body | None, pods: Sequence[Body]) -> bool:
        """Whether the index shows every one of them gone or terminating."""
        return not any(pod["metadata"]["name"] in self.names and not _deleting(pod) for pod in pods)


def consistent(job: Body | None, pods: Sequence[Body]) -> bool:
    """Whether the Job counts no more failed or succeeded pods than the pods show.

    The Job and the pods come from two watches, each lagging on its own: a Job that failed, seen
    before the pod that failed it, would lose the failure's details.
    """
    if job is None:
        return True
    status = job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    own = [pod for pod in pods if controller_uid(pod) == _uid(job)]
    for phase, counter in (("Failed", "failed"), ("Succeeded", "succeeded")):
        counted = int(status.get(counter) or 0) + len(uncounted.get(counter) or ())
        if counted > sum(1 for pod in own if (pod.get("status") or {}).get("phase") == phase):
            return False
    return True


@dataclass
class WatchCache:
    """Each TrainJob, its Job and its pods from kopf indexes, with the floors the reconciler left.

    Without a TrainJob index (`trainjobs` empty), every TrainJob is read fresh; a cache that is not
    `serving` serves nothing (every read is fresh) and only records.
    """

    jobs: Index
    pods: Index
    trainjobs: Index = field(default_factory=dict)
    verify_seconds: float = VERIFY_SECONDS
    clock: Callable[[], float] = time.monotonic
    serving: bool = True
    _floors: dict[Key, list[Floor]] = field(default_factory=dict)
    _fresh_at: dict[Key, float] = field(default_factory=dict)
    #: Each TrainJob's (uid, version) as the reconciler last wrote or read it fresh.
    _trainjob_floors: dict[Key, tuple[str | None, int | None]] = field(default_factory=dict)

    def trainjob(self, key: Key) -> dict[str, Any] | None:
        """The TrainJob, copied; None when it must be read fresh (absent, or older than its floor)."""
        entries = list(self.trainjobs.get(key, ()))
        if not self.serving or len(entries) != 1:
            return None
        floor = self._trainjob_floors.get(key)
        if floor is not None and not _not_older(entries[0], *floor):
            return None
        return copy.deepcopy(entries[0])

    def trainjob_items(self) -> Iterator[tuple[Key, Body]]:
        """Every TrainJob the watch holds, under its key (not copied: read, do not change)."""
        for key, entries in list(self.trainjobs.items()):
            values = list(entries)
            if len(values) == 1:
                yield key, values[0]

    def saw_trainjob(self, key: Key, trainjob: Body | None) -> None:
        """Record the TrainJob as a status write returned it or a fresh read found it (None: gone)."""
        if trainjob is None:
            self._trainjob_floors.pop(key, None)
        else:
            self._trainjob_floors[key] = (_uid(trainjob), version(trainjob))

    def read(self, key: Key) -> tuple[dict[str, Any] | None, list[dict[str, Any]]] | None:
        """The TrainJob's Job (or None) and pods, copied; None when they must be read fresh."""
        if not self.serving:
            return None
        jobs = list(self.jobs.get(key, ()))
        pods = list(self.pods.get(key, ()))
        job = jobs[0] if jobs else None
        if len(jobs) > 1 or not consistent(job, pods):
            return None
        if self.clock() - self._fresh_at.setdefault(key, self.clock()) > self.verify_seconds:
            return None
        floors = [floor for floor in self._floors.get(key, ()) if not floor.met_by(job, pods)]
        if floors:
            self._floors[key] = floors
            return None
        self._floors.pop(key, None)
        return copy.deepcopy(job), copy.deepcopy(pods)

    def read_fresh(self, key: Key, job: Body | None, pods: Sequence[Body], pods_version: str | None) -> None:
        """Record a fresh read: the index is trusted again once it is as new as this."""
        listed = {pod["metadata"]["name"]: (_uid(pod), version(pod)) for pod in pods}
        at = int(pods_version) if pods_version and pods_version.isdigit() else None
        job_floor: Floor = NoJob() if job is None else JobAt(_uid(job), version(job))
        self._floors[key] = [job_floor, PodsAt(listed, at)]
        self._fresh_at[key] = self.clock()

    def wrote_job(self, key: Key, job: Body | None) -> None:
        """Record a Job created or patched (as the apiserver returned it).

        None: a create found it existing, a Job the index may not show yet; the next read is fresh.
        """
        if job is None:
            self.expire(key)
        else:
            self._floors.setdefault(key, []).append(JobAt(_uid(job), version(job)))

    def deleted_job(self, key: Key, uid: str | None) -> None:
        """Record the deletion of the Job `uid`."""
        self._floors.setdefault(key, []).append(JobGone(uid))

    def deleted_pods(self, key: Key, names: Iterable[str]) -> None:
        """Record the deletion of pods by name."""
        self._floors.setdefault(key, []).append(PodsGone(frozenset(names)))

    def expire(self, key: Key) -> None:
        """Have the next reconcile of a TrainJob read fresh (after one that failed midway)."""
        self._fresh_at[key] = float("-inf")

    def forget(self, key: Key) -> None:
        """Drop what is kept about a TrainJob that is gone."""
        self._floors.pop(key, None)
        self._fresh_at.pop(key, None)
        self._trainjob_floors.pop(key, None)
