"""No secret and no token in the logs: the operator's, the workers', the TrainJob's status and Events.

A TrainJob whose workers get a Secret's value through `secretKeyRef` and whose rank 0 reports
status with the pod's ServiceAccount token runs to the end; neither that value, nor any token the
pods were given, nor anything shaped like a token, may show up anywhere a person or a log
collector reads. The operator must not dump pod specs either: a literal env value of the spec
stays out of its log.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import ControlPlane, TestNode
from tests.e2e.support import REPO, assert_succeeded, get_trainjob, kubectl_apply, wait_for_status

pytestmark = pytest.mark.e2e

#: A JSON Web Token, as ServiceAccount tokens are: base64url header `{"alg":...` and two more parts.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
WORKER = REPO / "tests" / "workers" / "tiny_regression.py"


def manifest(namespace: str, out: Path, literal: str) -> dict[str, Any]:
    """Two workers of the tiny regression job; rank 0 reports status often."""
    secret_env = {
        "name": "API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "api-credentials", "key": "token"}},
    }
    return {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "secretive", "namespace": namespace},
        "spec": {
            "image": "ghcr.io/trainjob/trainer:0.1.0",
            "command": ["python", str(WORKER), "--out", str(out)],
            "numNodes": 2,
            "maxEpochs": 3,
            "env": [
                {"name": "TRAINJOB_STATUS_INTERVAL_SECONDS", "value": "0.2"},
                secret_env,
                {"name": "LITERAL_SETTING", "value": literal},
            ],
        },
    }


def pod_dirs(node: TestNode, namespace: str) -> list[Path]:
    """The test node's directories of the namespace's pods (volumes, container specs, logs)."""
    return list(node.dir.glob(f"pods/{namespace}_*"))


def mounted_tokens(node: TestNode, namespace: str) -> set[str]:
    """The ServiceAccount tokens mounted into the namespace's running pods."""
    return {
        path.read_text()
        for pod in pod_dirs(node, namespace)
        for path in pod.glob("volumes/**/token")
        if path.is_file() and path.read_text()
    }


def test_neither_secrets_nor_tokens_reach_any_log(
    control_plane: ControlPlane,
    test_node: TestNode,
    namespace: str,
    operator: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    secret, literal = f"s3cret-{uuid.uuid4().hex}", f"literal-{uuid.uuid4().hex}"
    control_plane.admin.create(
        f"/api/v1/namespaces/{namespace}/secrets",
        {"metadata": {"name": "api-credentials"}, "stringData": {"token": secret}},
    )
    kubectl_apply(control_plane, manifest(namespace, tmp_path / "out", literal), tmp_path)

    tokens: set[str] = set()
    status = wait_for_status(
        control_plane,
        namespace,
        "secretive",
        operator=operator,
        every=lambda _: tokens.update(mounted_tokens(test_node, namespace)),
    )
    assert_succeeded(control_plane, namespace, status, test_node)
    assert status["progress"]["epoch"] == 3, "rank 0 reported with its token"
    assert tokens, "the pods were given ServiceAccount tokens"
    container_specs = [
        path.read_text() for pod in pod_dirs(test_node, namespace) for path in pod.glob("worker/*.json")
    ]
    assert container_specs and all(secret in spec for spec in container_specs), "the workers got the secret"

    pods = control_plane.admin.get(f"/api/v1/namespaces/{namespace}/pods")["items"]
    worker_logs = {
        pod["metadata"]["name"]: test_node.logs(namespace, pod["metadata"]["name"]) for pod in pods
    }
    operator_log = (tmp_path / "operator.log").read_text()
    trainjob = json.dumps(get_trainjob(control_plane, namespace, "secretive"))
    events = json.dumps(control_plane.admin.get(f"/api/v1/namespaces/{namespace}/events")["items"])
    readable = {"operator log": operator_log, "TrainJob": trainjob, "events": events} | {
        f"log of {name}": log for name, log in worker_logs.items()
    }
    assert len(worker_logs) == 2 and all(worker_logs.values())
    for where, text in readable.items():
        assert secret not in text, f"the secret's value is in the {where}"
        assert not any(token in text for token in tokens), f"a ServiceAccount token is in the {where}"
        assert not JWT.search(text), f"something shaped like a token is in the {where}"
    assert literal not in operator_log, "the operator logged the spec's env"
