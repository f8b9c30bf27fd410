"""The dashboard the chart deploys (`dashboard.enabled`), run by the test node as a pod with its own
ServiceAccount and the chart's RBAC only: read-only by default (the stop button gets the 403
message), able to stop once `dashboard.allowStop` grants `patch` on trainjobs."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.chart import installed, release_pods, upgrade
from tests.cluster import ControlPlane, TestNode
from tests.e2e.dashboard import watch_for_script
from tests.e2e.support import create_trainjob, get_trainjob, wait_until
from trainjob_api.names import STOP_ANNOTATION

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

RELEASE = "tj-dash"
DASHBOARD = ["dashboard.enabled=true", "dashboard.port=8090"]


@pytest.fixture(scope="module")
def chart(control_plane: ControlPlane, test_node: TestNode) -> Iterator[str]:
    """The chart installed with the dashboard on (read-only); its namespace."""
    with installed(control_plane, RELEASE, *DASHBOARD) as namespace:
        yield namespace


def dashboard_pod(cp: ControlPlane, namespace: str) -> dict[str, Any]:
    """The dashboard's running pod."""

    def running() -> dict[str, Any] | None:
        for pod in release_pods(cp, namespace, RELEASE):
            component = pod["metadata"]["labels"].get("app.kubernetes.io/component")
            if component == "dashboard" and pod["status"].get("phase") == "Running":
                return pod
        return None

    return wait_until(running, "the dashboard's pod to run")


def test_the_charts_dashboard_shows_trainjobs_read_only_and_stops_only_when_allowed(
    control_plane: ControlPlane, chart: str, namespace: str, browser: Any
) -> None:
    cp = control_plane
    # Held by runPolicy.suspend: the chart's operator reconciles it to Suspended and runs no pod.
    create_trainjob(cp, namespace, "held", {}, runPolicy={"suspend": True})
    pod = dashboard_pod(cp, chart)
    url = f"http://{pod['status']['podIP']}:8090/"
    with urllib.request.urlopen(f"{url}healthz", timeout=10) as response:
        assert response.status == 200
    context = browser.new_context()
    page = context.new_page()
    unexpected = watch_for_script(page, accept="Stop held?")
    page.goto(f"{url}#/job/{namespace}/held")
    expect(page.locator("#job-phase")).to_have_text("Suspended", timeout=60_000)
    page.click("#stop")
    expect(page.locator("#stop-message")).to_contain_text("You are not allowed to stop held")
    expect(page.locator("#stop-message")).to_contain_text(f"system:serviceaccount:{chart}:")
    assert STOP_ANNOTATION not in (get_trainjob(cp, namespace, "held")["metadata"].get("annotations") or {})

    upgrade(cp, RELEASE, chart, *DASHBOARD, "dashboard.allowStop=true")
    pod = dashboard_pod(cp, chart)
    page.goto(f"http://{pod['status']['podIP']}:8090/#/job/{namespace}/held")
    expect(page.locator("#job-phase")).to_have_text("Suspended", timeout=60_000)
    page.click("#stop")
    expect(page.locator("#stop-message")).to_contain_text("Stop requested for held")
    assert get_trainjob(cp, namespace, "held")["metadata"]["annotations"][STOP_ANNOTATION] == "true"
    assert unexpected == []
    context.close()
