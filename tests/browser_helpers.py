"""A real browser for tests: Debian's chromium driven by Playwright (browser downloads are unreachable here).

In CI a missing browser is a failure (.ci/run installs chromium); locally it is a loud skip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browser_entry() -> Any:
    """Playwright's entry point, or a skip (outside CI) / a failure (in CI) naming what is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if sync_playwright is None or not CHROMIUM.exists():
        missing = "the playwright package" if sync_playwright is None else f"Debian's chromium ({CHROMIUM})"
        if ci:
            pytest.fail(f"CI must check the pages in a browser, but {missing} is not installed (.ci/run "
                        "installs chromium; pip install -e '.[dev]' installs playwright)")
        pytest.skip(f"{missing} is not installed: apt-get install chromium / pip install -e '.[dev]'")
    return sync_playwright
