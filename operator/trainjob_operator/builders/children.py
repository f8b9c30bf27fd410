"""Every child of a TrainJob, in the order they are created (the Job last, once its identity exists)."""

from __future__ import annotations

from typing import Any

from trainjob_operator.builders.history import history_config_map
from trainjob_operator.builders.job import worker_job
from trainjob_operator.builders.meta import Body
from trainjob_operator.builders.podgroup import pod_group
from trainjob_operator.builders.rbac import role, role_binding, service_account
from trainjob_operator.builders.service import headless_service


def children(trainjob: Body, attempt: int, deadline_seconds: int | None = None) -> list[dict[str, Any]]:
    """The children of attempt `attempt`, in the order they are created.

    ServiceAccount, Role, RoleBinding, history ConfigMap, headless Service, PodGroup (if any), Job.
    """
    group = pod_group(trainjob)
    return [
        service_account(trainjob),
        role(trainjob),
        role_binding(trainjob),
        history_config_map(trainjob),
        headless_service(trainjob),
        *([group] if group else []),
        worker_job(trainjob, attempt, deadline_seconds),
    ]
