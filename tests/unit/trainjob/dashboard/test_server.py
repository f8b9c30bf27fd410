"""The dashboard's HTTP server on a real socket: headers, the page, JSON, events and the stop guard.

The cluster behind it is unreachable: what needs the apiserver answers with its error, and the
tests check what the server itself decides.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from tests.unit.trainjob.cli.objects import trainjob
from trainjob.client.connection import Cluster, ClusterError
from trainjob.dashboard.app import build
from trainjob.dashboard.security import TOKEN_HEADER
from trainjob.dashboard.server import refusal_message

HOSTILE = "<img src=x onerror=alert(1)></script>"


def unreachable() -> Cluster:
    configuration = Configuration()
    configuration.host = "http://127.0.0.1:9"  # the discard port: nothing answers
    configuration.retries = 0
    return Cluster(api=ApiClient(configuration), context="test", namespace="ml")


@pytest.fixture
def server() -> Iterator[Any]:
    dashboard = build(unreachable(), "127.0.0.1", 0)
    hub = dashboard.app.hub
    hub.apply(
        "SYNC",
        [
            trainjob(
                "digits",
                phase="Running",
                metrics={"loss": 0.5, "values": {HOSTILE: 1.0}},
                conditions=[{"type": "Running", "status": "True", "message": HOSTILE}],
            )
        ],
    )
    thread = threading.Thread(target=dashboard.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield dashboard
    dashboard.shutdown()
    dashboard.server_close()


def request(
    server: Any, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers.setdefault("Host", f"{host}:{port}")
    connection.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_every_answer_carries_the_security_headers(server: Any) -> None:
    for path in ("/", "/static/app.js", "/api/jobs", "/nowhere"):
        _, headers, _ = request(server, "GET", path)
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path


def test_the_page_carries_the_token_and_no_inline_script(server: Any) -> None:
    status, headers, body = request(server, "GET", "/")
    page = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/html")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert token and token.group(1) == server.app.guard.token
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/static/' in attributes and not text.strip() for attributes, text in scripts)
    assert not re.search(r"\son\w+\s*=", page), "no inline event handler"


def test_static_files_have_their_types_and_nothing_else_is_served(server: Any) -> None:
    status, headers, _ = request(server, "GET", "/static/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert request(server, "GET", "/static/style.css")[1]["content-type"].startswith("text/css")
    assert request(server, "GET", "/static/missing.js")[0] == 404
    assert request(server, "GET", "/static/../server.py")[0] == 404
    assert request(server, "GET", "/static/%2e%2e%2fserver.py")[0] == 404


def test_the_rows_are_json_with_hostile_strings_as_data_never_markup(server: Any) -> None:
    status, headers, body = request(server, "GET", "/api/jobs")
    assert status == 200 and headers["content-type"] == "application/json"
    assert b"<" not in body
    (row,) = json.loads(body)["rows"]
    assert row["key"] == "ml/digits" and row["loss"] == 0.5


def test_another_host_is_refused_against_dns_rebinding(server: Any) -> None:
    status, _, body = request(server, "GET", "/api/jobs", Host="attacker.example:80")
    assert status == 421 and b"digits" not in body


def test_the_stream_starts_with_the_snapshot(server: Any) -> None:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/api/stream", headers={"Host": f"{host}:{port}"})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
    assert response.readline() == b"retry: 1000\n" and response.readline() == b"\n"
    assert response.readline() == b"event: snapshot\n"
    data = response.readline()
    assert data.startswith(b"data: ") and json.loads(data[6:])["rows"][0]["name"] == "digits"
    connection.close()


def stop(server: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    host, port = server.server_address[:2]
    sent = {
        "Content_Type": "application/json",
        "Origin": f"http://{host}:{port}",
        TOKEN_HEADER: server.app.guard.token,
        **headers,
    }
    status, _, body = request(server, "POST", "/api/jobs/ml/digits/stop", b"{}", **sent)
    return status, json.loads(body)


@pytest.mark.parametrize(
    "forged",
    [
        {TOKEN_HEADER: "wrong"},
        {"Origin": "http://evil.example"},
        {"Content_Type": "text/plain"},
        {"Content_Type": "application/x-www-form-urlencoded"},
        {"Sec_Fetch_Site": "cross-site"},
    ],
)
def test_a_forged_stop_is_refused_before_the_apiserver_is_asked(server: Any, forged: dict[str, str]) -> None:
    status, body = stop(server, **forged)
    assert status == 403 and body["error"].startswith("Refused:")


def test_a_stop_from_the_page_goes_to_the_apiserver(server: Any) -> None:
    status, body = stop(server)
    assert status == 502 and "Could not stop digits" in body["error"]


def test_a_stop_elsewhere_or_with_get_is_not_served(server: Any) -> None:
    assert stop(server)[0] == 502
    assert request(server, "GET", "/api/jobs/ml/digits/stop")[0] == 405
    host, port = server.server_address[:2]
    status, _, _ = request(
        server,
        "POST",
        "/api/jobs/other/digits/stop",
        b"{}",
        Content_Type="application/json",
        Origin=f"http://{host}:{port}",
        **{TOKEN_HEADER: server.app.guard.token},
    )
    assert status == 404


def test_a_403_from_the_apiserver_says_which_right_is_missing() -> None:
    error = ClusterError('trainjobs.trainjob.dev "digits" is forbidden: User "bob" cannot patch', 403)
    message = refusal_message(error, "digits")
    assert message.startswith("You are not allowed to stop digits")
    assert "patch trainjobs" in message and 'User "bob" cannot patch' in message
    assert refusal_message(ClusterError("boom", 500), "digits") == "Could not stop digits: boom"


def test_a_job_the_watch_has_not_seen_is_not_found(server: Any) -> None:
    assert request(server, "GET", "/api/jobs/ml/nothing")[0] == 404
    assert request(server, "GET", "/api/jobs/other/digits")[0] == 404
