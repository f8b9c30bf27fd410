"""The headless Service that gives every worker a stable DNS name (`<job>-<index>.<service>`)."""

from __future__ import annotations

from typing import Any

from trainjob_api.names import service_name
from trainjob_operator.builders.meta import Body, child_metadata, selector_labels

RENDEZVOUS_PORT_NAME = "rendezvous"


def headless_service(trainjob: Body) -> dict[str, Any]:
    """The Service the worker pods name as their `subdomain`.

    `publishNotReadyAddresses` makes a worker's name resolve as soon as its pod has an IP, before
    any readiness, so that rendezvous can begin while the other workers still start.
    """
    port = trainjob["spec"]["masterPort"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(trainjob, service_name(trainjob["metadata"]["name"])),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(trainjob),
            "ports": [{"name": RENDEZVOUS_PORT_NAME, "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
