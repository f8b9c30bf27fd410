"""One reconcile of one TrainJob: read it, plan, carry the plan out.

Every trigger (a TrainJob change, a Job event, the periodic resync) ends up here. Reconciles of
the same TrainJob are serialized by a lock, and each reads the TrainJob anew rather than taking
the triggering event's, so it always sees its own last status write (a restart can never be
counted twice).

The TrainJob, the Job and the pods come from the operator's watches (a `WatchCache`) where they are
known to be as new as the reconciler's own last writes and reads, else from fresh reads (and always
without a cache). An irreversible decision (a restart counted, a final phase) is taken on fresh
reads only, and the Job is deleted only if it is still the one observed (a uid precondition).
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException

from trainjob_api.enums import Phase, Reason
from trainjob_api.names import KUEUE_QUEUE_LABEL, LABEL_NAME, job_name
from trainjob_operator.kube import JOBS, TRAINJOBS, WORKLOADS, KubeApi, error_message, resource_of
from trainjob_operator.metrics import Metrics
from trainjob_operator.planner import Event, Plan, failed_to_create, plan
from trainjob_operator.status.failures import FAILED_CREATE
from trainjob_operator.status.observe import awaits_pods, controller_uid
from trainjob_operator.status.queue import KUEUE_JOB_UID_LABEL, QueueVerdict, queue_verdict
from trainjob_operator.watch_cache import WatchCache

#: Posts an Event on a TrainJob (kopf.event in the operator).
EventSink = Callable[[Mapping[str, Any], Event], None]
#: Apiserver answers to a create that mean the child itself is invalid (not worth retrying).
INVALID = (400, 422)
#: The answer to a create of a PodGroup of a kind the cluster does not serve (where the gang
#: scheduler, or the feature gate of kube-scheduler's own, is missing): only a change can help.
#: (A 404 on another child is transient: a RoleBinding created beside its Role by an operator
#: without `bind` is checked against the Role, which may not be visible yet.)
NOT_SERVED = 404
#: The children that give the workers their identity, their name or rights (the reporter may
#: patch the history ConfigMap): one that exists and is not the TrainJob's is never used (see
#: `Reconciler._foreign`).
OWN_KINDS = frozenset({"ServiceAccount", "Role", "RoleBinding", "Service", "ConfigMap"})
#: Phases a plan may move to only on fresh reads: each counts a restart or ends the TrainJob.
DECISIVE_PHASES = frozenset({Phase.RESTARTING, Phase.FAILED, Phase.SUCCEEDED})
#: A TrainJob's Job (or None) and its pods.
Children = tuple[dict[str, Any] | None, list[dict[str, Any]]]
#: A TrainJob (or None), its Job (or None) and its pods.
Observed = tuple[dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]
T = TypeVar("T")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _value(value: T) -> T:
    """`value`, as a coroutine to gather beside reads."""
    return value


def _not_served(child: Mapping[str, Any]) -> str:
    """Why a child of a kind the cluster does not serve cannot be created, and what to do."""
    return (
        f"this cluster does not serve {child['apiVersion']} {child['kind']}s: install or enable the gang "
        "scheduler that spec.podGroupPolicy names (docs/platform.md), or remove spec.podGroupPolicy"
    )


class Reconciler:
    """Reconciles TrainJobs through a `KubeApi`, posting Events and recording metrics.

    With a `WatchCache`, the TrainJob, its Job and its pods come from the operator's watches where
    they can be trusted; without one, every reconcile reads them fresh.
    """

    def __init__(
        self, api: KubeApi, post_event: EventSink, metrics: Metrics, cache: WatchCache | None = None
    ) -> None:
        self._api = api
        self._cache = cache if cache is not None else WatchCache({}, {}, serving=False)
        self._post_event = post_event
        self._metrics = metrics
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        #: The resourceVersion of each TrainJob's Job as the last reconcile read or wrote it.
        self._job_versions: dict[tuple[str, str], str] = {}

    def is_news(self, namespace: str, name: str, job: Mapping[str, Any]) -> bool:
        """Whether TrainJob `namespace/name`'s Job, as a watch event shows it, is worth a reconcile.

        Not when a reconcile already saw this very version of it, or wrote it (the event of the
        Job just created, or just patched): a reconcile would find the same Job, and whatever
        else changed has triggers of its own.
        """
        version = job.get("metadata", {}).get("resourceVersion")
        return version is None or self._job_versions.get((namespace, name)) != version

    async def reconcile(self, namespace: str, name: str) -> None:
        """Bring the TrainJob `namespace/name` one step closer to its spec."""
        started = time.monotonic()
        try:
            async with self._locks[(namespace, name)]:
                await self._reconcile(namespace, name)
        except Exception as error:
            self._cache.expire((namespace, name))
            self._metrics.record_reconcile(time.monotonic() - started, type(error).__name__)
            raise
        self._metrics.record_reconcile(time.monotonic() - started)

    async def _reconcile(self, namespace: str, name: str) -> None:
        key = (namespace, name)
        (trainjob, job, pods), fresh = await self._read(key)
        result = await self._plan(trainjob, job, pods)
        if result is not None and not fresh and (result.status or {}).get("phase") in DECISIVE_PHASES:
            (trainjob, job, pods), _ = await self._read(key, fresh=True)
            result = await self._plan(trainjob, job, pods)
        if trainjob is None or result is None:
            self._locks.pop(key, None)
            self._job_versions.pop(key, None)
            self._cache.forget(key)
            return
        self._remember_job(namespace, name, job)
        await self._execute(trainjob, job, result)

    async def _read(self, key: tuple[str, str], *, fresh: bool = False) -> tuple[Observed, bool]:
        """The TrainJob, its Job and pods, from the cache where it serves them unless `fresh`.

        Returns them, and whether all three were read fresh. The fresh reads go out at once: each
        starts after the last reconcile's writes ended.
        """
        cached_trainjob = None if fresh else self._cache.trainjob(key)
        cached_children = None if fresh else self._cache.read(key)
        trainjob, (job, pods) = await asyncio.gather(
            self._read_trainjob(*key) if cached_trainjob is None else _value(cached_trainjob),
            self._read_children(*key) if cached_children is None else _value(cached_children),
        )
        return (trainjob, job, pods), cached_trainjob is None and cached_children is None

    async def _read_trainjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The TrainJob, read fresh (and recorded as such in the cache)."""
        trainjob = await self._api.get(TRAINJOBS, namespace, name)
        self._cache.saw_trainjob((namespace, name), trainjob)
        return trainjob

    async def _read_children(self, namespace: str, name: str) -> Children:
        """The TrainJob's Job and pods, read fresh (and recorded as such in the cache)."""
        job, pods = await asyncio.gather(
            self._api.get(JOBS, namespace, job_name(name)),
            self._api.list_pods(namespace, f"{LABEL_NAME}={name}"),
        )
        self._cache.read_fresh((namespace, name), job, pods.items, pods.version)
        return job, pods.items

    async def _plan(
        self, trainjob: Mapping[str, Any] | None, job: Mapping[str, Any] | None, pods: list[dict[str, Any]]
    ) -> Plan | None:
        """What to do about the TrainJob; None when it is gone or being deleted."""
        if trainjob is None or trainjob["metadata"].get("deletionTimestamp"):
            return None
        creation_error, queue = await asyncio.gather(
            self._creation_error(trainjob, job, pods), self._queue_verdict(trainjob, job)
        )
        return plan(trainjob, job, pods, _now(), creation_error, queue)

    async def _creation_error(
        self, trainjob: Mapping[str, Any], job: Mapping[str, Any] | None, pods: list[dict[str, Any]]
    ) -> str | None:
        """Why the Job controller cannot create missing worker pods: its latest FailedCreate Event."""
        status = trainjob.get("status") or {}
        attempt, nodes = int(status.get("restarts") or 0), int(trainjob["spec"].get("numNodes") or 1)
        if job is None or not awaits_pods(job, pods, attempt=attempt, nodes=nodes):
            return None
        messages = await self._api.event_messages(
            trainjob["metadata"]["namespace"], job["metadata"]["uid"], FAILED_CREATE
        )
        return messages[-1] if messages else None

    async def _queue_verdict(
        self, trainjob: Mapping[str, Any], job: Mapping[str, Any] | None
    ) -> QueueVerdict | None:
        """Why a queue holds the Job, from Kueue's Workload: only for a queued Job that is suspended."""
        if job is None or not job.get("spec", {}).get("suspend") or trainjob["spec"]["runPolicy"]["suspend"]:
            return None
        if KUEUE_QUEUE_LABEL not in (trainjob["metadata"].get("labels") or {}):
            return None
        selector = f"{KUEUE_JOB_UID_LABEL}={job['metadata']['uid']}"
        workloads = await self._api.list_or_nothing(WORKLOADS, trainjob["metadata"]["namespace"], selector)
        return queue_verdict(workloads)

    def _remember_job(self, namespace: str, name: str, job: Mapping[str, Any] | None) -> None:
        version = (job or {}).get("metadata", {}).get("resourceVersion")
        if version is None:
            self._job_versions.pop((namespace, name), None)
        else:
            self._job_versions[(namespace, name)] = version

    async def _execute(
        self, trainjob: Mapping[str, Any], job: Mapping[str, Any] | None, result: Plan
    ) -> None:
        """Create, then write the status and post Events, then delete and patch (the Job observed)."""
        namespace, name = trainjob["metadata"]["namespace"], trainjob["metadata"]["name"]
        key = (namespace, name)
        result = await self._create(trainjob, result)
        if result.status:
            written = await self._api.patch_status(TRAINJOBS, namespace, name, result.status)
            self._cache.saw_trainjob(key, written)
        for event in result.events:
            self._post_event(trainjob, event)
            self._metrics.record_transition(event.phase, event.reason)
        if result.delete_job:
            uid = (job or {}).get("metadata", {}).get("uid")
            await self._api.delete(JOBS, namespace, job_name(name), result.delete_job, uid=uid)
            self._remember_job(namespace, name, None)
            self._cache.deleted_job(key, uid)
        if result.patch_job:
            patched = await self._api.patch(JOBS, namespace, job_name(name), result.patch_job)
            self._remember_job(namespace, name, patched)
            self._cache.wrote_job(key, patched)
        for pod in result.delete_pods:
            await self._api.delete_pod(namespace, pod)
        if result.delete_pods:
            self._cache.deleted_pods(key, result.delete_pods)
        if result.delete_trainjob:
            await self._api.delete(TRAINJOBS, namespace, name)

    async def _create(self, trainjob: Mapping[str, Any], result: Plan) -> Plan:
        """Create the plan's children: the Job's identity and Service at once, then the Job.

        Returns the plan, or the plan of a failed TrainJob when the apiserver rejected a child as
        invalid or a child's name is held by an object that is not the TrainJob's (then no Job is
        created); any other error propagates.
        """
        namespace, name = trainjob["metadata"]["namespace"], trainjob["metadata"]["name"]
        job = [child for child in result.create if child["kind"] == "Job"]
        for batch in ([child for child in result.create if child["kind"] != "Job"], job):
            outcomes = await asyncio.gather(*map(self._api.create, batch), return_exceptions=True)
            for child, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, ApiException) and outcome.status in INVALID:
                    message = f"the apiserver rejected the {child['kind']}: {error_message(outcome)}"
                    return failed_to_create(trainjob, Reason.INVALID_WORKERS, message, _now())
                if (
                    isinstance(outcome, ApiException)
                    and outcome.status == NOT_SERVED
                    and child["kind"] == "PodGroup"
                ):
                    message = f"the apiserver rejected the {child['kind']}: {_not_served(child)}"
                    return failed_to_create(trainjob, Reason.INVALID_WORKERS, message, _now())
            for child, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    raise outcome
                if child["kind"] == "Job":
                    self._remember_job(namespace, name, outcome)
                    self._cache.wrote_job((namespace, name), outcome)
                elif (
                    outcome is None
                    and child["kind"] in OWN_KINDS
                    and (taken := await self._foreign(trainjob, child))
                ):
                    return failed_to_create(trainjob, Reason.CHILD_NAME_TAKEN, taken, _now())
        return result

    async def _foreign(self, trainjob: Mapping[str, Any], child: Mapping[str, Any]) -> str | None:
        """Why an existing object of the child's name is not the TrainJob's to use, if it is not.

        A create answered 409 finds the object a first reconcile made, or someone else's: a
        ServiceAccount of that name would give the workers another identity than the one the
        TrainJob's creator was allowed (the creator-rights policy checks the spec, not this).
        (The Job of a foreign owner is handled by the planner: it waits for it to go.)
        """
        kind, metadata = child["kind"], child["metadata"]
        existing = await self._api.get(resource_of(child), metadata["namespace"], metadata["name"])
        if existing is None or controller_uid(existing) == trainjob["metadata"].get("uid"):
            return None
        return (
            f"a {kind} named {metadata['name']!r} already exists and does not belong to this TrainJob; "
            "delete it or rename the TrainJob"
        )
