"""Debian's chromium through Playwright, for the browser and print tests.

Playwright's own browser download is never used (``playwright install`` is not needed).
Missing a tool, a test skips with the install command, except under CI (env ``CI`` set),
where it fails: CI must prove the browser tests ran (``.ci/run`` installs the packages).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Any, Iterator

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# tool -> how to install it (Debian); pdftotext reads back what the print tests print
TOOLS = {"pdftotext": "apt-get install -y poppler-utils"}


def missing(*tools: str) -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return "chromium not found: install with apt-get install -y chromium (Debian package)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright not installed: install with pip install -e '.[test]' (or pip install playwright)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} not found: install with {TOOLS[tool]}"
    return None


def launch(*tools: str) -> Iterator[Any]:
    """A headless Chromium for a module's tests (skip, or fail under CI, without one)."""
    reason = missing(*tools)
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
