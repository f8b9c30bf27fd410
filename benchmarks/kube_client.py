"""A plain, synchronous client for the benchmarks: the official client, one kept-alive connection.

The same client library the operator uses (`kubernetes`), so that a plain loop and the
operator pay the same price per request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config

from trainjob_operator.kube import RESOURCES_BY_KIND, TRAINJOBS, collection_path


def api_client(kubeconfig: Path) -> kubernetes.client.ApiClient:
    """A client authenticated by `kubeconfig`."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


def request(
    client: kubernetes.client.ApiClient,
    method: str,
    path: str,
    body: Mapping[str, Any],
    content_type: str = "application/json",
) -> dict[str, Any]:
    """One request with a JSON body; the decoded answer."""
    response = client.call_api(
        method,
        client.configuration.host + path,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        body=dict(body),
    )
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:500]!r}")
    return json.loads(data)


def create(client: kubernetes.client.ApiClient, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST a TrainJob or a child the operator's builders made; returns the object as created."""
    resource = TRAINJOBS if body["kind"] == "TrainJob" else RESOURCES_BY_KIND[body["kind"]]
    return request(client, "POST", collection_path(resource, body["metadata"]["namespace"]), body)
