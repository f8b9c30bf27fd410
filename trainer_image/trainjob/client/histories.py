"""A TrainJob's training history, from its ConfigMap (see `trainjob.reporting.history_store`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainjob.client.connection import Cluster, ClusterError, api_errors
from trainjob.reporting.history_store import HISTORY_FILE_NAME
from trainjob_api.names import HISTORY_KEY, LABEL_NAME, history_name


def cluster_history(cluster: Cluster, name: str) -> dict[str, Any]:
    """The history of TrainJob `name`; ClusterError when it has none (yet)."""
    from kubernetes.client import CoreV1Api

    config_map = history_name(name)
    with api_errors(f"the history of TrainJob {name!r} (configmap {config_map})"):
        found = CoreV1Api(cluster.api).read_namespaced_config_map(config_map, cluster.namespace)
    text = (found.data or {}).get(HISTORY_KEY) or ""
    if not text.strip():
        raise ClusterError(f"TrainJob {name!r} has no history yet: its workers have not reported an epoch")
    return json.loads(text)


def run_dir_history(run_dir: Path) -> dict[str, Any]:
    """The history `trainjob run` kept in `run_dir`; ClusterError when there is none."""
    path = run_dir / HISTORY_FILE_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ClusterError(f"no history at {path}: is {run_dir} the run dir of a `trainjob run`?") from error


def cluster_histories(
    cluster: Cluster, all_namespaces: bool = False
) -> dict[tuple[str, str], dict[str, Any]]:
    """Every readable TrainJob history of the namespace (or all), by (namespace, TrainJob name), in one list.

    A history ConfigMap is recognised by its owner's label and name; empty or unreadable ones are left out.
    """
    from kubernetes.client import CoreV1Api

    core = CoreV1Api(cluster.api)
    with api_errors("the TrainJobs' histories (configmaps)"):
        if all_namespaces:
            response = core.list_config_map_for_all_namespaces(
                label_selector=LABEL_NAME, _preload_content=False
            )
        else:
            response = core.list_namespaced_config_map(
                cluster.namespace, label_selector=LABEL_NAME, _preload_content=False
            )
        items = response.json().get("items") or []
    found = {}
    for item in items:
        metadata = item.get("metadata") or {}
        owner = (metadata.get("labels") or {}).get(LABEL_NAME, "")
        text = (item.get("data") or {}).get(HISTORY_KEY) or ""
        if metadata.get("name") != history_name(owner) or not text.strip():
            continue
        try:
            found[(metadata.get("namespace", ""), owner)] = json.loads(text)
        except ValueError:
            continue
    return found
