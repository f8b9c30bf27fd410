"""The final status rank 0 left in its container's termination message (see `trainjob_api.final_status`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainjob_api.final_status import decode_final_status
from trainjob_api.names import WORKER_CONTAINER
from trainjob_api.types import Body
from trainjob_operator.status.failures import worker_index


def final_status(pods: Sequence[Body]) -> dict[str, Any]:
    """The reporter fields that rank 0's worker container left when it ended; empty if none.

    Among several ended rank-0 pods of one attempt, the last to finish speaks.
    """
    messages = []
    for pod in pods:
        if worker_index(pod) != 0:
            continue
        for container in pod.get("status", {}).get("containerStatuses") or []:
            terminated = (container.get("state") or {}).get("terminated") or {}
            if container.get("name") == WORKER_CONTAINER and terminated.get("message"):
                messages.append((terminated.get("finishedAt") or "", terminated["message"]))
    return decode_final_status(max(messages)[1]) if messages else {}
