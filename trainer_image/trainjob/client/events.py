"""The Events the cluster recorded about one object (a TrainJob), oldest first."""

from __future__ import annotations

from typing import Any

from trainjob.client.connection import Cluster, api_errors
from trainjob_api.names import KIND


def trainjob_events(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    """The Events of TrainJob `name` in the cluster's namespace: type, reason, message, count, time."""
    from kubernetes.client import CoreV1Api

    selector = f"involvedObject.kind={KIND},involvedObject.name={name}"
    with api_errors(f'events of trainjob "{name}" in namespace "{cluster.namespace}"'):
        response = CoreV1Api(cluster.api).list_namespaced_event(
            cluster.namespace, field_selector=selector, _preload_content=False
        )
        items = response.json().get("items") or []
    events = [
        {
            "type": item.get("type") or "",
            "reason": item.get("reason") or "",
            "message": item.get("message") or "",
            "count": item.get("count") or 1,
            "time": item.get("lastTimestamp")
            or item.get("eventTime")
            or item["metadata"].get("creationTimestamp"),
            "source": (item.get("source") or {}).get("component") or item.get("reportingComponent") or "",
        }
        for item in items
    ]
    return sorted(events, key=lambda event: event["time"] or "")
