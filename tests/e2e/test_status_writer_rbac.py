"""The in-pod status writer's credentials, on the real apiserver: its own job's status and nothing else."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import ApiError, ControlPlane
from tests.e2e.support import REPO, TRAINJOBS, install_crd, wait_until
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink
from trainjob.reporting.stop_watch import StopRequestWatcher
from trainjob.reporting.writer import BackgroundWriter, RefusedWriteError, WriteSchedule
from trainjob_api.contract import JobIdentity
from trainjob_api.names import STOP_ANNOTATION
from trainjob_operator.builders.rbac import role, role_binding, service_account

pytestmark = pytest.mark.e2e
ROLE_BINDINGS = "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings"


def create_trainjob(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    manifest = yaml.safe_load((REPO / "examples" / "digits-ddp.yaml").read_text())
    manifest["metadata"] = {"name": name, "namespace": namespace}
    return cp.admin.create(TRAINJOBS.format(namespace=namespace), manifest)


@dataclass
class Reporter:
    """The per-job identity the operator gives job `own`: its token and the pod-style access."""

    token: str
    access: ClusterAccess


@pytest.fixture
def reporter(control_plane: ControlPlane, namespace: str, tmp_path: Path) -> Reporter:
    """Jobs `own` and `other`, and a token of `own`'s reporter account with the operator's Role."""
    cp = control_plane
    install_crd(cp)
    own = create_trainjob(cp, namespace, "own")
    create_trainjob(cp, namespace, "other")
    account = service_account(own)
    cp.admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
    cp.admin.create(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles", role(own))
    cp.admin.create(ROLE_BINDINGS.format(namespace=namespace), role_binding(own))
    token = cp.service_account_token(namespace, account["metadata"]["name"])
    token_file = tmp_path / "token"
    token_file.write_text(token)
    return Reporter(token, ClusterAccess(cp.server, Path(cp.ca.cert), token_file))


def test_the_reporter_token_patches_its_own_status_and_nothing_else(
    control_plane: ControlPlane, namespace: str, reporter: Reporter
) -> None:
    cp, access, token = control_plane, reporter.access, reporter.token
    sink = KubeStatusSink(access, JobIdentity("own", namespace))
    sink.write({"progress": {"epoch": 2, "totalEpochs": 12, "percent": 16.7}})
    assert sink.last_object["status"]["progress"]["epoch"] == 2
    stored = cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/own")
    assert stored["status"]["progress"] == {"epoch": 2, "totalEpochs": 12, "percent": 16.7}

    with pytest.raises(RefusedWriteError, match="HTTP 403"):
        KubeStatusSink(access, JobIdentity("other", namespace)).write({"progress": {"epoch": 1}})

    client = cp.token_client(token)
    with pytest.raises(ApiError) as spec_patch:
        client.patch(f"{TRAINJOBS.format(namespace=namespace)}/own", {"spec": {"maxEpochs": 1}}, kind="merge")
    assert spec_patch.value.status == 403
    with pytest.raises(ApiError) as secrets:
        client.get(f"/api/v1/namespaces/{namespace}/secrets")
    assert secrets.value.status == 403


def test_the_reporter_token_watches_its_own_job_for_a_stop_request(
    control_plane: ControlPlane, namespace: str, reporter: Reporter, caplog: pytest.LogCaptureFixture
) -> None:
    requested = threading.Event()
    watcher = StopRequestWatcher(reporter.access, JobIdentity("own", namespace), requested.set).start()
    forbidden = threading.Event()
    other = StopRequestWatcher(reporter.access, JobIdentity("other", namespace), forbidden.set).start()
    try:
        time.sleep(1.0)  # let the watch open, so the request arrives as a watch event
        assert not requested.is_set()
        for name in ("other", "own"):
            control_plane.admin.patch(
                f"{TRAINJOBS.format(namespace=namespace)}/{name}",
                {"metadata": {"annotations": {STOP_ANNOTATION: "true"}}},
                kind="merge",
            )
        assert requested.wait(timeout=30), "the stop request was not seen"
        # Forbidden is said as an error, and retried (a restarting apiserver may answer it
        # until its caches sync), but never authorises the watch.
        wait_until(
            lambda: [r for r in caplog.records if r.levelname == "ERROR" and "HTTP 403" in r.getMessage()],
            "the forbidden watch to be reported",
        )
        assert not forbidden.is_set()
    finally:
        watcher.close()
        other.close()
    assert not other._thread.is_alive(), "close ends a watcher that is backing off"

    with pytest.raises(ApiError) as listing:
        control_plane.token_client(reporter.token).get(TRAINJOBS.format(namespace=namespace), watch="true")
    assert listing.value.status == 403


def test_a_refused_status_write_is_retried_and_lands_once_access_is_back(
    control_plane: ControlPlane, namespace: str, reporter: Reporter, caplog: pytest.LogCaptureFixture
) -> None:
    # As while a restarted apiserver's RBAC cache is not yet synced: the binding is missing.
    cp = control_plane
    own = cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/own")
    binding = role_binding(own)
    cp.admin.delete(f"{ROLE_BINDINGS.format(namespace=namespace)}/{binding['metadata']['name']}")
    sink = KubeStatusSink(reporter.access, JobIdentity("own", namespace))

    def refused() -> bool:
        try:
            sink.write({"progress": {"epoch": 0}})
        except RefusedWriteError:
            return True
        return False

    wait_until(refused, "the write to be refused without the binding", timeout=30)
    writer = BackgroundWriter(
        sink, min_interval_s=0, schedule=WriteSchedule(0, base_backoff_s=0.2, max_backoff_s=1)
    )
    try:
        writer.submit({"progress": {"epoch": 3, "totalEpochs": 12}})
        wait_until(
            lambda: [r for r in caplog.records if r.levelname == "ERROR" and "refused" in r.getMessage()],
            "the refusal to be reported",
            timeout=30,
        )
        cp.admin.create(ROLE_BINDINGS.format(namespace=namespace), binding)
        assert writer.flush(timeout_s=30), "the refused write never landed"
    finally:
        writer.close(timeout_s=1)
    stored = cp.admin.get(f"{TRAINJOBS.format(namespace=namespace)}/own")
    assert stored["status"]["progress"] == {"epoch": 3, "totalEpochs": 12}
