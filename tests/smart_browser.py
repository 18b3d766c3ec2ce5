"""Debian's Chromium driven by Playwright, launched as verified on this machine (ecosystem.md 4).

Playwright's own browser download (`playwright install`) is never used: the tests run the
`chromium` Debian package (`apt-get install chromium`; .ci/run installs it when missing).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class BrowserMissingError(RuntimeError):
    """Debian's chromium is not installed."""


def chromium_path() -> Path:
    found = shutil.which("chromium")
    if found is None:
        raise BrowserMissingError("no `chromium` on PATH: apt-get install -y chromium")
    return Path(found)


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(chromium_path()), headless=True, args=CHROMIUM_ARGS
    )
