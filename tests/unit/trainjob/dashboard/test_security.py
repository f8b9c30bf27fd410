"""The dashboard's guard: which hosts it answers, and which stop POSTs it refuses."""

from __future__ import annotations

import pytest

from trainjob.dashboard.security import (
    CONTENT_SECURITY_POLICY,
    TOKEN_HEADER,
    Guard,
    allowed_hosts,
    is_loopback,
    new_token,
)

TOKEN = "t0ken"
HOST = "127.0.0.1:8080"


class Headers(dict):
    """Request headers, looked up case-insensitively like http.server's."""

    def get(self, name: str, default: None = None) -> str | None:  # type: ignore[override]
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        return default


def good() -> Headers:
    return Headers(
        {"Content-Type": "application/json", "Host": HOST, "Origin": f"http://{HOST}", TOKEN_HEADER: TOKEN}
    )


GUARD = Guard(TOKEN, allowed_hosts("127.0.0.1", 8080))


def test_a_post_from_the_page_itself_is_allowed() -> None:
    assert GUARD.refuse_post(good()) is None
    assert GUARD.refuse_post(Headers({**good(), "Content-Type": "application/json; charset=utf-8"})) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"Content-Type": "text/plain"}, "application/json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, "application/json"),
        ({"Origin": "http://evil.example"}, "Origin"),
        ({"Origin": "null"}, "Origin"),
        ({TOKEN_HEADER: "guess"}, "token"),
        ({TOKEN_HEADER: ""}, "token"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ({"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}, "Host"),
    ],
)
def test_a_forged_or_cross_site_post_is_refused(change: dict[str, str], reason: str) -> None:
    refused = GUARD.refuse_post(Headers({**good(), **change}))
    assert refused is not None and reason in refused


def test_a_post_without_origin_or_token_is_refused() -> None:
    for missing in ("Origin", TOKEN_HEADER):
        headers = good()
        del headers[missing]
        assert GUARD.refuse_post(headers) is not None


def test_a_loopback_server_answers_only_its_own_host_names_against_dns_rebinding() -> None:
    hosts = allowed_hosts("127.0.0.1", 8080)
    assert hosts is not None
    assert {"127.0.0.1:8080", "localhost:8080", "[::1]:8080"} <= hosts
    assert GUARD.host_allowed("LOCALHOST:8080")
    assert not GUARD.host_allowed("attacker.example:8080")
    assert not GUARD.host_allowed("127.0.0.1:9090")
    assert not GUARD.host_allowed(None)


def test_a_server_on_every_address_answers_any_host_but_still_checks_origin() -> None:
    assert not is_loopback("0.0.0.0") and is_loopback("127.0.0.2") and is_loopback("::1")
    guard = Guard(TOKEN, allowed_hosts("0.0.0.0", 8080))
    assert guard.host_allowed("dashboard.ml.svc:8080")
    headers = Headers({**good(), "Host": "dashboard.ml.svc:8080", "Origin": "http://evil.example"})
    assert guard.refuse_post(headers) is not None


def test_tokens_are_fresh_and_long() -> None:
    tokens = {new_token() for _ in range(20)}
    assert len(tokens) == 20 and all(len(token) >= 40 for token in tokens)


def test_the_policy_allows_no_inline_script_and_no_framing() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
