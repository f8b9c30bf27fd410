"""A TrainJob's training history, from its ConfigMap (see `trainjob.reporting.history_store`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainjob.client.connection import Cluster, ClusterError, api_errors
from trainjob.reporting.history_store import HISTORY_FILE_NAME
from trainjob_api.names import HISTORY_KEY, history_name


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
