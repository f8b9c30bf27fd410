"""The dashboard as a user runs it (`trainjob dashboard --port 0`), and what its tests share."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.cluster import ControlPlane
from tests.e2e.test_cli import Background

#: Strings that run script if a page ever puts them in as markup.
HOSTILE = '<img src=x onerror="window.__pwned=1">'
HOSTILE_SCRIPT = "</script><script>window.__pwned=2</script>"
#: Where the tests' screenshots go: TRAINJOB_DASHBOARD_SCREENSHOTS (docs/images for the README), else tmp.
SCREENSHOTS = "TRAINJOB_DASHBOARD_SCREENSHOTS"


class Dashboard:
    """`python -m trainjob dashboard --port 0 ARGS`: started, its URL read from what it prints."""

    def __init__(self, cp: ControlPlane, *args: str) -> None:
        self.command = Background(cp, "dashboard", "--port", "0", *args)
        (line,) = self.command.wait_for_lines(1, timeout=60)
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, line
        self.url = found.group(0)

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.command.process.terminate()
        self.command.process.wait(timeout=20)


def screenshot_dir(tmp_path: Path) -> Path:
    """Where to save screenshots (created)."""
    directory = Path(os.environ.get(SCREENSHOTS) or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def watch_for_script(page: Any, accept: str = "") -> list[str]:
    """Record every dialog the page opens but those starting with `accept` (which it accepts), and
    every error the page's script throws: a hostile string that ran would show as one or the other."""
    seen: list[str] = []

    def dialog(shown: Any) -> None:
        if accept and shown.message.startswith(accept):
            shown.accept()
            return
        seen.append(f"dialog: {shown.message}")
        shown.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda error: seen.append(f"page error: {error}"))
    return seen


def record_failed_requests(page: Any) -> list[str]:
    """Every request of the page that got no answer, and why (for a failure's message)."""
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    return failed


def drop_the_first_request(page: Any, pattern: str) -> list[str]:
    """Abort the page's first request matching `pattern` as a lost network would, let the rest
    through; the list of dropped URLs (as Chromium does when the host's network changes)."""
    dropped: list[str] = []

    def route(handled: Any) -> None:
        if dropped:
            handled.continue_()
        else:
            dropped.append(handled.request.url)
            handled.abort("internetdisconnected")

    page.route(pattern, route)
    return dropped


def assert_no_script_ran(page: Any) -> None:
    """No hostile string became markup: no <img> on the page, nothing set window.__pwned."""
    assert page.locator("img").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")
