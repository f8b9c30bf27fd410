"""`trainjob dashboard` in headless Chromium against the real control plane, with status written
through the status subresource as the operator and the rank-0 reporter write it (no training
run here; tests/e2e/test_dashboard_training.py has the real one).

The list (`--all-namespaces`, filtered to the test's namespace by the address) shows the
TrainJobs and a status write reaches the open page within a second, without a reload; filters,
sparklines and the compare view; a job's curves with its marks, conditions,
failure; hostile metric names and messages render as text; a user without `patch` on trainjobs
sees the 403 message when stopping.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.cluster import ControlPlane
from tests.e2e.dashboard import (
    HOSTILE,
    HOSTILE_SCRIPT,
    Dashboard,
    assert_no_script_ran,
    drop_the_first_request,
    screenshot_dir,
    watch_for_script,
)
from tests.e2e.support import TRAINJOBS, condition, create_trainjob, get_trainjob, install_crd
from tests.e2e.test_creator_rights import grant
from trainjob.reporting.history import FORMAT_VERSION
from trainjob_api.names import HISTORY_KEY, LABEL_NAME, STOP_ANNOTATION, history_name

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

VIEWER_RIGHTS = (
    {"apiGroups": ["trainjob.dev"], "resources": ["trainjobs"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["list"]},
)


def running(epoch: int, loss: float) -> dict[str, Any]:
    return {
        "phase": "Running",
        "restarts": 1,
        "progress": {"epoch": epoch, "totalEpochs": 8, "percent": epoch * 12.5, "etaSeconds": 300.0},
        "metrics": {"loss": loss, "values": {"loss": loss, HOSTILE: 0.25, HOSTILE_SCRIPT: 0.5}},
    }


def history(losses: list[float], restart_at: int | None = None) -> dict[str, Any]:
    """A history document as the reporter keeps it, with hostile metric names."""
    points = [[epoch, loss] for epoch, loss in enumerate(losses, start=1)]
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "epochs": {
            "loss": {"width": 1, "points": points},
            HOSTILE: {"width": 1, "points": [[x, y / 2] for x, y in points]},
            HOSTILE_SCRIPT: {"width": 1, "points": [[x, 1 - y / 4] for x, y in points]},
        },
        "attempts": [{"attempt": 0, "epoch": 1, "step": 0, "time": ""}],
        "best": {"metric": "loss", "value": min(losses), "epoch": losses.index(min(losses)) + 1},
    }
    if restart_at is not None:
        document["attempts"].append({"attempt": 1, "epoch": restart_at, "step": 0, "time": ""})
        document["earlyStop"] = {"epoch": len(losses), "reason": "no improvement"}
    return document


def store_history(cp: ControlPlane, namespace: str, name: str, document: dict[str, Any]) -> None:
    """The history ConfigMap, as the operator creates it and the reporter fills it."""
    body = {
        "metadata": {"name": history_name(name), "labels": {LABEL_NAME: name}},
        "data": {HISTORY_KEY: json.dumps(document)},
    }
    cp.admin.create(f"/api/v1/namespaces/{namespace}/configmaps", body)


def write_status(cp: ControlPlane, namespace: str, name: str, status: dict[str, Any]) -> None:
    path = f"{TRAINJOBS.format(namespace=namespace)}/{name}/status"
    cp.admin.patch(path, {"status": status}, kind="merge")


@pytest.fixture(scope="module")
def jobs(control_plane: ControlPlane) -> Iterator[str]:
    """Three TrainJobs nobody runs, with status and history as if they had, shared by the module's
    tests: their namespace."""
    cp = control_plane
    install_crd(cp)
    namespace = f"t-dash-{uuid.uuid4().hex[:8]}"
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    alpha = running(2, 0.9) | {
        "conditions": [
            condition("Created", "True", "WorkersCreated", "2 workers"),
            condition("Running", "True", "AllWorkersRunning", f"every worker runs {HOSTILE}"),
        ]
    }
    create_trainjob(cp, namespace, "alpha", alpha)
    store_history(cp, namespace, "alpha", history([1.2, 0.9, 0.7, 0.8, 0.75], restart_at=3))
    create_trainjob(cp, namespace, "beta", {"phase": "Succeeded", "progress": {"epoch": 8, "percent": 100.0}})
    store_history(cp, namespace, "beta", history([1.5, 1.0, 0.6, 0.4]))
    failure = {
        "worker": 1,
        "pod": "gamma-1",
        "exitCode": 137,
        "reason": "OOMKilled",
        "message": HOSTILE_SCRIPT,
    }
    create_trainjob(cp, namespace, "gamma", {"phase": "Failed", "failure": failure})
    yield namespace
    cp.admin.delete(f"/api/v1/namespaces/{namespace}")


def row(page: Any, key: str) -> Any:
    return page.locator(f'tr[data-key="{key}"]')


def test_the_list_follows_status_writes_live_and_a_job_page_renders_every_string_as_text(
    control_plane: ControlPlane, jobs: str, browser: Any, tmp_path: Path
) -> None:
    namespace = jobs
    # The page's own CSP would stop inline script anyway: bypass it, so that this proves the escaping.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1360, "height": 900})
    page = context.new_page()
    dialogs = watch_for_script(page)
    # Every namespace (other tests' TrainJobs too), filtered to this one by the address.
    with Dashboard(control_plane, "--all-namespaces") as dashboard:
        page.goto(f"{dashboard.url}#/?namespace={namespace}")
        # The server's first list of every namespace's TrainJobs (and histories) can take a while
        # on a busy machine; until it is back the page says it is loading, not that there are none.
        expect(page.locator("table.jobs")).to_have_attribute("aria-busy", "false", timeout=60_000)
        expect(page.locator("#empty")).to_be_hidden()
        expect(page.locator("tbody#jobs tr:visible")).to_have_count(3)
        expect(page.locator("#filter-namespace")).to_have_value(namespace)
        alpha = row(page, f"{namespace}/alpha")
        expect(alpha.locator(".phase")).to_have_text("Running")
        expect(alpha.locator(".bar-text")).to_have_text("25%")
        expect(alpha.locator(".epoch")).to_have_text("2/8")
        # The sparkline: the history's losses, then the status's.
        expect(alpha.locator("svg.spark polyline")).to_have_count(1)
        expect(row(page, f"{namespace}/gamma").locator(".phase")).to_have_text("Failed")
        page.evaluate("() => { window.__sameDocument = true; }")

        # A status write reaches the open page without a reload (how fast: benchmarks/dashboard.py).
        write_status(control_plane, namespace, "alpha", running(4, 0.6))
        expect(alpha.locator(".bar-text")).to_have_text("50%", timeout=5000)
        expect(alpha.locator(".epoch")).to_have_text("4/8")
        assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"

        # Filters.
        page.select_option("#filter-phase", "Failed")
        expect(page.locator("tbody#jobs tr:visible")).to_have_count(1)
        expect(page.locator("#count")).to_have_text(re.compile(r"^1 of \d+ TrainJobs$"))
        page.select_option("#filter-phase", "")
        page.fill("#filter-name", "bet")
        expect(page.locator("tbody#jobs tr:visible")).to_have_count(1)
        page.fill("#filter-name", "")
        page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-status-list.png"))

        # Compare: two jobs' curves on one chart per metric.
        alpha.locator("input[type=checkbox]").check()
        row(page, f"{namespace}/beta").locator("input[type=checkbox]").check()
        page.click("#compare")
        expect(page.locator('#compare-curves figure[data-metric="loss"] path.series')).to_have_count(2)
        expect(page.locator("#compare-legend li")).to_have_text([f"{namespace}/alpha", f"{namespace}/beta"])
        page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-status-compare.png"))

        # A job's page: every metric's curve (hostile names as text), restart and early-stop marks,
        # the best value, conditions, the latest metrics.
        page.goto(f"{dashboard.url}#/job/{namespace}/alpha")
        curves = page.locator("#curves figure")
        expect(curves).to_have_count(3)
        expect(curves.locator(".metric-name")).to_have_text(sorted(["loss", HOSTILE, HOSTILE_SCRIPT]))
        loss = page.locator('#curves figure[data-metric="loss"]')
        expect(loss.locator(".best-label")).to_have_text("best 0.7 at epoch 3")
        expect(loss.locator("line.mark-restart")).to_have_count(1)
        expect(loss.locator("line.mark-early-stop")).to_have_count(1)
        expect(loss.locator("circle.best")).to_have_count(1)
        expect(page.locator("#conditions li")).to_have_count(2)
        expect(page.locator("#conditions")).to_contain_text(f"every worker runs {HOSTILE}")
        expect(page.locator("#metrics .metric-name")).to_contain_text([HOSTILE_SCRIPT, HOSTILE, "loss"])
        expect(page.locator("#summary")).to_contain_text("Restarts1")
        expect(page.locator("#events")).to_have_text("Eventsnone")  # nobody recorded any
        expect(page.locator("#workers tbody tr")).to_have_count(0)  # nobody runs it
        page.screenshot(path=str(screenshot_dir(tmp_path) / "dashboard-status-job.png"), full_page=True)

        # The failure: worker, exit code, reason, and its hostile message as text.
        page.goto(f"{dashboard.url}#/job/{namespace}/gamma")
        where = "worker 1, pod gamma-1, exit code 137, OOMKilled"
        expect(page.locator("#failure .failure-where")).to_have_text(where)
        expect(page.locator("#failure .failure-message")).to_have_text(HOSTILE_SCRIPT)
        expect(page.locator("#stop")).to_be_disabled()
        assert_no_script_ran(page)
    assert dialogs == []
    context.close()


def test_a_user_without_the_right_to_patch_trainjobs_sees_why_stop_failed(
    control_plane: ControlPlane, jobs: str, browser: Any
) -> None:
    cp, namespace = control_plane, jobs
    grant(cp, namespace, "viewer", *VIEWER_RIGHTS)
    kubeconfig = cp.write_kubeconfig("viewer", cp.credentials("viewer"))
    context = browser.new_context()
    page = context.new_page()
    unexpected = watch_for_script(page, accept="Stop alpha?")
    with Dashboard(cp, "-n", namespace, "--kubeconfig", str(kubeconfig)) as dashboard:
        page.goto(f"{dashboard.url}#/job/{namespace}/alpha")
        expect(page.locator("#job-phase")).to_have_text("Running")
        expect(page.locator("#curves figure")).to_have_count(3)  # the viewer may read the history
        page.click("#stop")
        message = page.locator("#stop-message")
        expect(message).to_contain_text("You are not allowed to stop alpha")
        expect(message).to_contain_text("patch trainjobs")
        expect(message).to_contain_text('User "viewer" cannot patch')
        expect(page.locator("#stop")).to_be_enabled()  # the page still works
        expect(page.locator("#job-title")).to_have_text("alpha")
    annotations = get_trainjob(cp, namespace, "alpha")["metadata"].get("annotations") or {}
    assert STOP_ANNOTATION not in annotations
    assert unexpected == []
    context.close()


def test_a_list_the_user_may_not_read_says_why_and_never_that_there_are_none(
    control_plane: ControlPlane, jobs: str, browser: Any
) -> None:
    # A user with no rights at all: every list of the watch is refused, and retried.
    kubeconfig = control_plane.write_kubeconfig("stranger", control_plane.credentials("stranger"))
    context = browser.new_context()
    page = context.new_page()
    with Dashboard(control_plane, "--all-namespaces", "--kubeconfig", str(kubeconfig)) as dashboard:
        page.goto(dashboard.url)
        expect(page.locator("#connection")).to_contain_text("forbidden", timeout=30_000)
        expect(page.locator("#connection")).to_have_attribute("data-state", "error")
        expect(page.locator("#empty")).to_have_text("Loading the TrainJobs…")
        expect(page.locator("table.jobs")).to_have_attribute("aria-busy", "true")
        expect(page.locator("#count")).to_have_text("")
    context.close()


def test_a_page_whose_scripts_fail_to_load_reloads_itself_and_says_so_when_they_never_load(
    control_plane: ControlPlane, jobs: str, browser: Any
) -> None:
    # Chromium drops the requests in flight when the host's network changes, as it does whenever
    # a container starts beside it (net::ERR_NETWORK_CHANGED; seen here while pods started).
    context = browser.new_context()
    page = context.new_page()
    loads: list[str] = []

    def count_loads(request: Any) -> None:
        if request.resource_type == "document":
            loads.append(request.url)

    page.on("request", count_loads)
    with Dashboard(control_plane, "-n", jobs) as dashboard:
        dropped = drop_the_first_request(page, "**/static/app.js")
        page.goto(dashboard.url)
        expect(row(page, f"{jobs}/alpha")).to_have_count(1)
        expect(page.locator("#connection")).to_have_text("live")
        assert len(dropped) == 1 and len(loads) == 2, (dropped, loads)  # reloaded once

        page.unroute("**/static/app.js")
        page.route("**/static/app.js", lambda route: route.abort("internetdisconnected"))
        loads.clear()
        page.reload()
        notice = "the page's scripts did not load: reload the page"
        expect(page.locator("#connection")).to_have_text(notice, timeout=30_000)
        expect(page.locator("#connection")).to_have_attribute("data-state", "error")
        assert len(loads) == 5, loads  # the reload asked for, and 4 of its own
        page.wait_for_timeout(3_000)
        assert len(loads) == 5, "it gave up, and stays given up"
    context.close()


def test_a_request_the_network_dropped_is_retried_on_a_job_page_and_named_on_the_compare_page(
    control_plane: ControlPlane, jobs: str, browser: Any
) -> None:
    # beta is finished: once the stream's first snapshot is in, no status change asks its page to
    # load it again.
    context = browser.new_context()
    page = context.new_page()
    beta = f"**/api/jobs/{jobs}/beta"
    with Dashboard(control_plane, "-n", jobs) as dashboard:
        page.goto(dashboard.url)
        expect(row(page, f"{jobs}/beta")).to_have_count(1)
        dropped = drop_the_first_request(page, beta)
        page.click(f'tr[data-key="{jobs}/beta"] a.job-link')
        expect(page.locator('#curves figure[data-metric="loss"] path.series')).to_have_count(1)
        expect(page.locator("#stop-message")).to_be_hidden()
        assert len(dropped) == 1

        page.unroute(beta)
        page.route(beta, lambda route: route.abort("internetdisconnected"))
        page.goto(f"{dashboard.url}#/compare?jobs={jobs}/alpha,{jobs}/beta")
        expect(page.locator('#compare-curves figure[data-metric="loss"] path.series')).to_have_count(1)
        expect(page.locator("#compare-problems")).to_contain_text(f"{jobs}/beta: could not load it")
    context.close()
