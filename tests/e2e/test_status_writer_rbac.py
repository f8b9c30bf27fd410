"""The in-pod status writer's credentials, on the real apiserver: its own job's status and nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import ApiError, ControlPlane
from tests.e2e.support import REPO, TRAINJOBS, install_crd
from trainjob.contract import JobIdentity
from trainjob.status.kube import ClusterAccess, KubeStatusSink
from trainjob.status.writer import PermanentWriteError
from trainjob_operator.builders.rbac import role, role_binding, service_account

pytestmark = pytest.mark.e2e


def create_trainjob(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    manifest = yaml.safe_load((REPO / "examples" / "digits-ddp.yaml").read_text())
    manifest["metadata"] = {"name": name, "namespace": namespace}
    return cp.admin.create(TRAINJOBS.format(namespace=namespace), manifest)


def test_the_reporter_token_patches_its_own_status_and_nothing_else(
    control_plane: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    cp = control_plane
    install_crd(cp)
    own = create_trainjob(cp, namespace, "own")
    create_trainjob(cp, namespace, "other")
    account = service_account(own)
    cp.admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
    cp.admin.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles", role(own))
    cp.admin.create(
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings", role_binding(own)
    )
    token = cp.service_account_token(namespace, account["metadata"]["name"])
    token_file = tmp_path / "token"
    token_file.write_text(token)
    access = ClusterAccess(cp.server, Path(cp.ca.cert), token_file)

    sink = KubeStatusSink(access, JobIdentity("own", namespace))
    sink.write({"progress": {"epoch": 2, "totalEpochs": 12, "percent": 16.7}})
    assert sink.last_object["status"]["progress"]["epoch"] == 2
    stored = cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/own")
    assert stored["status"]["progress"] == {"epoch": 2, "totalEpochs": 12, "percent": 16.7}

    with pytest.raises(PermanentWriteError, match="HTTP 403"):
        KubeStatusSink(access, JobIdentity("other", namespace)).write({"progress": {"epoch": 1}})

    reporter = cp.token_client(token)
    with pytest.raises(ApiError) as spec_patch:
        reporter.patch(
            f"{TRAINJOBS.format(namespace=namespace)}/own", {"spec": {"maxEpochs": 1}}, kind="merge"
        )
    assert spec_patch.value.status == 403
    with pytest.raises(ApiError) as secrets:
        reporter.get(f"/api/v1/namespaces/{namespace}/secrets")
    assert secrets.value.status == 403
