"""Headless Chromium from Debian's packages, driven by Playwright (no browser is ever downloaded)."""

from __future__ import annotations

import shutil
from pathlib import Path

#: Where Debian's `chromium` package puts the browser (hack/setup.sh installs it).
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> Path | None:
    """The system's Chromium, or None when it is not installed."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None
