"""The operator console in a real browser (Debian's chromium through Playwright; never a downloaded browser).

One walk through what an operator and a front-office viewer do: log in, open the list, filter to the dead
letters, open a message, replay it once the downstream is fixed, search a client by BSN and follow a zaak's
timeline; and what a viewer cannot do. Every step saves a screenshot to ``out/console-screenshots/`` (and,
with OVERSTAP_UPDATE_SCREENSHOT=1, to docs/img/ for docs/console.md). No page may run a script, keep
anything in browser storage, or carry the full BSN in its address or (outside a payload view) its text.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from console_helpers import BSN, USERS, Running, failing_chains
from proxy_helpers import Start, wait_for

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "out" / "console-screenshots"
DOCS = {"messages", "message", "replay-confirm", "client", "zaak", "health", "purge-preview",
        "health-quarantine-full"}
"""The screenshots docs/console.md shows (none with a payload in view: those hold the sample's BSN)."""


@pytest.fixture
def failing(start: Start) -> Iterator[Running]:
    with failing_chains(start) as running:
        yield running


def shot(page: Any, name: str, above: str | None = None) -> None:
    """A full-page screenshot; with ``above`` only what is above that element (a payload stays out of docs)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    clip = None
    if above is not None:
        box = page.locator(above).first.bounding_box()
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": box["y"]}
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=clip is None, clip=clip)
    if os.environ.get("OVERSTAP_UPDATE_SCREENSHOT") and name in DOCS:
        shutil.copy(SHOTS / f"console-{name}.png", ROOT / "docs" / "img" / f"console-{name}.png")


def private(page: Any, payloads: bool = False) -> None:
    """No full BSN in the address, or in the visible text unless this is a payload view; nothing stored."""
    assert BSN not in page.url
    text = page.locator("main").inner_text()
    if payloads:
        for pre in page.locator("pre").all():
            text = text.replace(pre.inner_text(), "")
    assert BSN not in text, f"full BSN on {page.url}"
    assert page.evaluate("() => localStorage.length + sessionStorage.length") == 0


def log_in(browser: Any, base: str, user: str) -> Any:
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(base + "/console/messages")  # not logged in: sent to the login form
    assert page.url.endswith("/console/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", USERS[user][0])
    page.click("button[type=submit]")
    page.wait_for_url("**/console/messages")
    return page


def test_an_operator_and_a_viewer_in_chromium(failing: Running) -> None:
    sync_playwright = browser_entry()
    base = failing.gateway.url
    refused: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = log_in(browser, base, "otto")
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            assert page.locator("table.list tbody tr").count() == 6
            private(page)
            shot(page, "messages")

            page.select_option("select[name=status]", "dead")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/messages?status=dead**")
            assert page.locator("table.list tbody tr").count() == 6
            private(page)
            shot(page, "messages-dead")

            page.locator("table.list tbody tr").last.locator("a").first.click()  # the oldest: the 315
            page.wait_for_url("**/console/messages/*")
            assert "WMO315" in page.locator("h1").inner_text()
            private(page, payloads=True)
            shot(page, "message", above="h2:has-text('Mapping lineage')")
            row = page.locator("table.lineage tr", has_text="dagtekening")  # lineage row -> its source line
            row.locator("td").nth(1).locator("a").click()
            target = page.locator("pre.marked span:target")
            assert target.count() == 1 and "Dagtekening" in target.inner_text()
            assert target.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 211, 92)"  # :target, CSS
            shot(page, "message-marked")  # out/ only: it shows a payload

            failing.receiver.behaviour = "bv"  # the downstream is fixed
            page.locator("a.button", has_text="Replay").first.click()
            page.wait_for_url("**/replay")
            shot(page, "replay-confirm")
            page.click("button.danger")
            assert "Queued again" in page.locator("main").inner_text()
            assert wait_for(lambda: len(failing.receiver.received) == 1, timeout=30)
            page.locator("main a", has_text="Back to message").click()
            assert wait_for(lambda: page.reload() is not None and "delivered" in page.locator("table.list")
                            .first.inner_text(), timeout=20)
            shot(page, "message-replayed")

            page.goto(base + "/console/clients")
            page.fill("input[name=bsn]", BSN)
            page.click("form.filters button[type=submit]")
            assert "*******82" in page.locator("main").inner_text()
            private(page)
            shot(page, "client")
            page.locator("table.list a", has_text="0384B658").first.click()  # the B chain: 301, 305, 307
            page.wait_for_url("**/console/zaken/*")
            assert page.locator("ol.timeline li").count() == 5
            private(page)
            shot(page, "zaak")
            page.goto(base + "/console/health")
            private(page)
            shot(page, "health")
            page.goto(base + "/console/purge")
            page.fill("input[name=days]", "0")
            page.check("input[name=dead]")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/purge?days=0&dead=1")
            assert "Yes, purge" in page.locator("main").inner_text()
            shot(page, "purge-preview")
            page.locator("main a", has_text="Cancel").click()  # nothing purged: the walk goes on
            page.goto(base + "/console/shadow")
            shot(page, "shadow")
            for cookie in page.context.cookies():
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and BSN not in cookie["value"]

            viewer = log_in(browser, base, "vera")
            viewer.locator("table.list tbody tr").last.locator("a").first.click()
            viewer.wait_for_url("**/console/messages/*")
            assert viewer.locator("a.button", has_text="Replay").count() == 0
            shot(viewer, "viewer-message")
            assert viewer.locator("header a", has_text="Purge").count() == 0
            viewer.click("form.logout button")
            viewer.wait_for_url("**/console/login")
        finally:
            browser.close()
    assert not refused, f"the page tried something the CSP forbids: {refused}"
