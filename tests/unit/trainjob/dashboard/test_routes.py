"""Routing: each path to its handler, names checked, anything else a 404 or a 405."""

from __future__ import annotations

import pytest

from trainjob.dashboard.routes import METHOD_NOT_ALLOWED, NOT_FOUND, Route, route


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/", Route("index")),
        ("GET", "/healthz", Route("health")),
        ("GET", "/static/app.js", Route("static", file="app.js")),
        ("GET", "/api/jobs", Route("rows")),
        ("GET", "/api/stream", Route("stream")),
        ("GET", "/api/jobs/ml/digits", Route("detail", "ml", "digits")),
        ("GET", "/api/jobs/ml/digits/log?rank=1", Route("log", "ml", "digits", query={"rank": ["1"]})),
        ("POST", "/api/jobs/ml/digits.v2/stop", Route("stop", "ml", "digits.v2")),
    ],
)
def test_each_path_reaches_its_handler(method: str, target: str, expected: Route) -> None:
    assert route(method, target) == expected


@pytest.mark.parametrize(
    "target",
    [
        "/static/../server.py",
        "/static/%2e%2e%2fserver.py",
        "/static/.hidden.js",
        "/static/app.py",
        "/api/jobs/ML/digits",
        "/api/jobs/ml/%3Cimg%3E",
        "/api/jobs/ml/digits/delete",
        "/api/jobs/ml",
        "/nowhere",
    ],
)
def test_anything_else_is_not_found(target: str) -> None:
    assert route("GET", target) is NOT_FOUND


def test_a_known_path_with_the_wrong_method_is_not_allowed() -> None:
    assert route("GET", "/api/jobs/ml/digits/stop") is METHOD_NOT_ALLOWED
    assert route("POST", "/api/jobs/ml/digits") is METHOD_NOT_ALLOWED
    assert route("DELETE", "/") is METHOD_NOT_ALLOWED
