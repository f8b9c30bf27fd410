"""What keeps the dashboard safe: response headers, the Host check and the stop POST's CSRF checks."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: No inline script or style, nothing from elsewhere, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Sent with every response.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: The header the page sends the server's token in.
TOKEN_HEADER = "X-CSRF-Token"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


class Headers(Protocol):
    """Request headers, looked up case-insensitively (as `http.server` gives them)."""

    def get(self, name: str, default: None = None) -> str | None:
        """The header's value, or None."""
        ...


def new_token() -> str:
    """A fresh random token for one server's life."""
    return secrets.token_urlsafe(32)


def is_loopback(address: str) -> bool:
    """Whether the server listens on a loopback address only."""
    return address in LOOPBACK or address.startswith("127.")


def allowed_hosts(address: str, port: int, extra: Iterable[str] = ()) -> frozenset[str] | None:
    """The Host headers a loopback server answers (against DNS rebinding); None: any (in-cluster)."""
    if not is_loopback(address):
        return None
    names = {*LOOPBACK[:3], address if ":" not in address else f"[{address}]", *extra}
    return frozenset(f"{name}:{port}" for name in names)


@dataclass(frozen=True)
class Guard:
    """The server's token and the hosts it answers to."""

    token: str
    hosts: frozenset[str] | None

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request with this Host header is answered at all."""
        return self.hosts is None or (host or "").lower() in self.hosts

    def refuse_post(self, headers: Headers) -> str | None:
        """Why a state-changing POST is refused (a cross-site or forged request), or None to allow it."""
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return "a stop request must be sent as application/json"
        host = headers.get("Host") or ""
        if not self.host_allowed(host):
            return f"unexpected Host {host!r}"
        origin = headers.get("Origin")
        if origin is None or origin.lower() not in (f"http://{host}".lower(), f"https://{host}".lower()):
            return "the request does not come from this dashboard's page (Origin)"
        if (headers.get("Sec-Fetch-Site") or "same-origin") != "same-origin":
            return "a cross-site request"
        if not hmac.compare_digest((headers.get(TOKEN_HEADER) or "").encode(), self.token.encode()):
            return "the page's token is missing or wrong: reload the page"
        return None
