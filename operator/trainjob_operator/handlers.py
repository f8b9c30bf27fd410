"""The kopf handlers: thin glue from kopf's triggers to the `Reconciler`.

Triggers of a reconcile: a TrainJob created, its spec changed, the operator resumed; an event of
a Job labelled with a TrainJob's name (the Job controller updates it on every pod transition),
unless a reconcile already saw or wrote that version of the Job;
and a periodic resync of every TrainJob that is unfinished or waits for its TTL (deadlines,
stuck workers, missed events). Pod events trigger nothing: the Job's status reflects them, and the
resync catches what it does not (a worker that cannot pull its image).

Three indexes hold the TrainJobs and each one's Job and pods from the watches (see `watch_cache`);
the reconciler reads them instead of the apiserver where they are fresh enough.

The resync is the operator's own loop over the TrainJob index when it runs standalone (see
`resync`): TrainJobs then carry no finalizer. With peering it is a kopf timer, and kopf keeps a
finalizer (`trainjob.dev/finalizer`) on the TrainJobs the timer runs for, to stop it cleanly on
deletion: from the first reconcile on; it is removed when the TrainJob finishes (without a TTL)
or is deleted while the operator runs. kopf's record of the last handled spec is the status's
`observedGeneration` (see `kopf_storage`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf
import kubernetes.client

from trainjob_api.enums import Phase
from trainjob_api.names import GROUP, LABEL_NAME, PLURAL, VERSION
from trainjob_operator.config import OperatorConfig
from trainjob_operator.kube import TRAINJOBS as TRAINJOB_RESOURCE
from trainjob_operator.kube import KubeApi, client_configuration
from trainjob_operator.metrics import Metrics, serve_metrics
from trainjob_operator.planner import Event
from trainjob_operator.reconciler import Reconciler
from trainjob_operator.resync import ResyncLoop
from trainjob_operator.watch_cache import WatchCache, job_entry, pod_entry, trainjob_entry

#: Kubernetes keeps an Event's message to 1 kB.
EVENT_MESSAGE_LIMIT = 1024
TRAINJOBS = {"group": GROUP, "version": VERSION, "plural": PLURAL}
#: The children the indexes hold: those labelled with a TrainJob's name.
CHILDREN = {"labels": {LABEL_NAME: kopf.PRESENT}}


def post_event(trainjob: Mapping[str, Any], event: Event) -> None:
    """Post an Event on the TrainJob through kopf's event queue."""
    message = (
        event.message
        if len(event.message) <= EVENT_MESSAGE_LIMIT
        else event.message[: EVENT_MESSAGE_LIMIT - 1] + "…"
    )
    kopf.event(dict(trainjob), type=event.type, reason=event.reason, message=message)


def needs_resync(spec: Mapping[str, Any], status: Mapping[str, Any], **_: Any) -> bool:
    """Whether a TrainJob needs the periodic resync: reconciled once, and unfinished or with a TTL.

    Not before its first reconcile (kopf's create handler, retried until it succeeds), which has
    just reconciled it; with peering, kopf's timer also brings kopf's finalizer, one more PATCH
    that would otherwise come before the children.
    """
    if "observedGeneration" not in status:
        return False
    finished = status.get("phase") in (Phase.SUCCEEDED, Phase.FAILED)
    return not finished or (spec.get("runPolicy") or {}).get("ttlSecondsAfterFinished") is not None


def observed_phase(type: str | None, status: Mapping[str, Any]) -> str | None:
    """A TrainJob's phase as a watch event shows it; None when it was deleted."""
    return None if type == "DELETED" else status.get("phase") or Phase.PENDING


def phase_changed(
    type: str | None, namespace: str, name: str, status: Mapping[str, Any], memo: kopf.Memo, **_: Any
) -> bool:
    """Whether a TrainJob event changes the phase the metrics track.

    Most events of a running TrainJob are its reporter's status writes (one per job every 10 s):
    filtered here, kopf neither invokes the handler nor logs its success for them.
    """
    return bool(memo.metrics.phase_of(namespace, name) != observed_phase(type, status))


def register(registry: kopf.OperatorRegistry, config: OperatorConfig) -> None:
    """Register every handler of the operator on `registry`."""
    standalone = config.peering is None  # else the resync is kopf's timer, see `resync`

    @kopf.on.login(id="login", registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

    @kopf.index(**TRAINJOBS, id="trainjob_trainjobs", registry=registry)
    def trainjob_trainjobs(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return trainjob_entry(body)

    @kopf.index("batch", "v1", "jobs", **CHILDREN, id="trainjob_jobs", registry=registry)
    def trainjob_jobs(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return job_entry(body)

    @kopf.index("", "v1", "pods", **CHILDREN, id="trainjob_pods", registry=registry)
    def trainjob_pods(body: kopf.Body, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
        return pod_entry(body)

    @kopf.on.startup(id="start", registry=registry)
    async def start(
        memo: kopf.Memo,
        trainjob_trainjobs: kopf.Index,
        trainjob_jobs: kopf.Index,
        trainjob_pods: kopf.Index,
        **_: Any,
    ) -> None:
        if memo.get("api") is None:  # kept across retries of this handler
            memo.api = KubeApi(kubernetes.client.ApiClient(client_configuration()))
        api = memo.api
        if not config.clusterwide and not await api.serves(TRAINJOB_RESOURCE):
            # Watching chosen namespaces, kopf looks for the CRD only now (see `settings`).
            raise kopf.TemporaryError(
                "the TrainJob CRD is not installed (kubectl apply -f crds/); waiting for it", delay=10
            )
        memo.metrics = Metrics()
        cache = WatchCache(trainjob_jobs, trainjob_pods, trainjob_trainjobs)
        memo.metrics.trainjobs = cache.trainjob_items
        memo.reconciler = Reconciler(api, post_event, memo.metrics, cache)
        memo.resync = None
        if standalone:
            reconcile, interval = memo.reconciler.reconcile, config.resync_seconds
            memo.resync = ResyncLoop(cache.trainjob_items, needs_resync, reconcile, interval)
        memo.metrics_runner = None
        if config.metrics_port:
            memo.metrics_runner = await serve_metrics(memo.metrics, config.metrics_host, config.metrics_port)

    @kopf.on.cleanup(id="stop", registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        if memo.get("resync") is not None:
            await memo.resync.stop()
        if memo.get("metrics_runner") is not None:
            await memo.metrics_runner.cleanup()

    @kopf.on.resume(**TRAINJOBS, id="reconcile", registry=registry)
    @kopf.on.create(**TRAINJOBS, id="reconcile", registry=registry)
    @kopf.on.update(**TRAINJOBS, field="spec", id="reconcile", registry=registry)
    async def trainjob_changed(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
        if memo.resync is not None:
            memo.resync.start()  # from a handler: its resyncs may post Events (see `ResyncLoop.start`)
        await memo.reconciler.reconcile(namespace, name)

    if not standalone:
        # With peering, only kopf knows whether this replica acts: kopf's timer (and finalizer).
        # The first resync waits one interval: the creation or resumption has just reconciled.
        @kopf.timer(
            **TRAINJOBS,
            id="resync",
            interval=config.resync_seconds,
            initial_delay=config.resync_seconds,
            when=needs_resync,
            registry=registry,
        )
        async def resync(namespace: str, name: str, memo: kopf.Memo, **_: Any) -> None:
            await memo.reconciler.reconcile(namespace, name)

    @kopf.on.event("batch", "v1", "jobs", **CHILDREN, id="job", registry=registry)
    async def job_changed(
        namespace: str, labels: Mapping[str, str], body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        if memo.reconciler.is_news(namespace, labels[LABEL_NAME], body):
            await memo.reconciler.reconcile(namespace, labels[LABEL_NAME])

    @kopf.on.event(**TRAINJOBS, id="phase", when=phase_changed, registry=registry)
    async def track_phase(
        type: str | None, namespace: str, name: str, status: Mapping[str, Any], memo: kopf.Memo, **_: Any
    ) -> None:
        memo.metrics.set_phase(namespace, name, observed_phase(type, status))
