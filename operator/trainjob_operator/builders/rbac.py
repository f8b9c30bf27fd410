"""The identity of the in-pod status reporter: a per-job ServiceAccount, Role and RoleBinding.

The Role allows exactly what the reporter needs on exactly this TrainJob: `get` and `patch` of
`trainjobs/status`, `get` and `watch` of the TrainJob (to see stop requests), and `get` and
`patch` of the job's history ConfigMap, all with `resourceNames` (a watch names its object with a
`metadata.name` field selector).

The workers run as the per-job account, unless `spec.podTemplate.serviceAccountName` names the
user's own account (for the user's code, e.g. cloud storage through workload identity); then the
RoleBinding binds the reporter's Role to that account too, so reporting keeps working without
giving the user's account anything beyond this one job's status.
"""

from __future__ import annotations

from typing import Any

from trainjob_api.names import GROUP, PLURAL, history_name, reporter_name
from trainjob_operator.builders.meta import Body, child_metadata, identity

RBAC_GROUP = "rbac.authorization.k8s.io"


def worker_service_account(trainjob: Body) -> str:
    """The ServiceAccount the worker pods run as."""
    user_account = trainjob["spec"].get("podTemplate", {}).get("serviceAccountName")
    return user_account or reporter_name(trainjob["metadata"]["name"])


def service_account(trainjob: Body) -> dict[str, Any]:
    """The per-job ServiceAccount."""
    name = reporter_name(trainjob["metadata"]["name"])
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": child_metadata(trainjob, name)}


def role(trainjob: Body) -> dict[str, Any]:
    """Read and patch this TrainJob's status and history ConfigMap; read and watch this TrainJob."""
    job = trainjob["metadata"]["name"]
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "Role",
        "metadata": child_metadata(trainjob, reporter_name(job)),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [f"{PLURAL}/status"],
                "resourceNames": [job],
                "verbs": ["get", "patch"],
            },
            {"apiGroups": [GROUP], "resources": [PLURAL], "resourceNames": [job], "verbs": ["get", "watch"]},
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [history_name(job)],
                "verbs": ["get", "patch"],
            },
        ],
    }


def role_binding(trainjob: Body) -> dict[str, Any]:
    """Bind the Role to the per-job account and, if different, to the account the workers run as."""
    name = reporter_name(trainjob["metadata"]["name"])
    namespace = identity(trainjob).namespace
    accounts = dict.fromkeys([name, worker_service_account(trainjob)])
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": child_metadata(trainjob, name),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": name},
        "subjects": [
            {"kind": "ServiceAccount", "name": account, "namespace": namespace} for account in accounts
        ],
    }
