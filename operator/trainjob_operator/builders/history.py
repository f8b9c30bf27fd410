"""The ConfigMap that keeps a TrainJob's training history, made empty with the other children.

The in-pod reporter fills its `history.json` key (see `trainjob.reporting.history_store`); the
reporter's Role may get and patch this ConfigMap by name and nothing else, which is why the
operator creates it (RBAC cannot limit `create` to a name). Owned by the TrainJob, it outlives
the pods and goes with the TrainJob; its bytes stay out of the TrainJob object that every
TrainJob watcher receives.
"""

from __future__ import annotations

from typing import Any

from trainjob_api.names import HISTORY_KEY, history_name
from trainjob_operator.builders.meta import Body, child_metadata


def history_config_map(trainjob: Body) -> dict[str, Any]:
    """The empty history ConfigMap of this TrainJob."""
    name = history_name(trainjob["metadata"]["name"])
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(trainjob, name),
        "data": {HISTORY_KEY: ""},
    }
