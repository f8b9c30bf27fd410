"""A job's page: the TrainJob, its curves, Events and worker pods, each read with the user's credentials.

Each part is read on its own: one the user may not read (a 403) or that does not exist yet is
reported in `errors` by part, and the rest is still shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from trainjob.cli.render import metric_values
from trainjob.client.connection import Cluster, ClusterError
from trainjob.client.events import trainjob_events
from trainjob.client.histories import cluster_history
from trainjob.client.trainjobs import TrainJob, phase_of
from trainjob.client.workers import WorkerPods
from trainjob.plotting.curves import chart_data
from trainjob_api.names import stop_requested

T = TypeVar("T")


def job_detail(cluster: Cluster, trainjob: TrainJob) -> dict[str, Any]:
    """What the job's page shows (JSON-ready).

    Spec and status, the latest metrics by name, the history's charts, Events and workers.
    """
    metadata, spec = trainjob.get("metadata") or {}, trainjob.get("spec") or {}
    status = trainjob.get("status") or {}
    name = metadata.get("name", "")
    errors: dict[str, str] = {}
    charts = _part(errors, "history", lambda: chart_data(cluster_history(cluster, name)))
    events = _part(errors, "events", lambda: trainjob_events(cluster, name))
    workers = _part(errors, "workers", lambda: [asdict(w) for w in WorkerPods(cluster).of(name)])
    return {
        "name": name,
        "namespace": metadata.get("namespace", ""),
        "uid": metadata.get("uid", ""),
        "created": metadata.get("creationTimestamp"),
        "resourceVersion": metadata.get("resourceVersion"),
        "phase": phase_of(trainjob),
        "stopRequested": stop_requested(trainjob),
        "spec": {
            key: spec.get(key)
            for key in ("numNodes", "numProcPerNode", "maxEpochs", "earlyStopping", "checkpoint", "runPolicy")
        },
        "status": status,
        "latestMetrics": metric_values(status.get("metrics") or {}),
        "charts": charts,
        "events": events or [],
        "workers": workers or [],
        "errors": errors,
    }


def _part(errors: dict[str, str], what: str, read: Callable[[], T]) -> T | None:
    """`read()`, or None with the reason in `errors[what]`."""
    try:
        return read()
    except (ClusterError, ValueError) as error:
        errors[what] = str(error)
        return None
