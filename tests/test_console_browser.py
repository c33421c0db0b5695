"""The operator console in a real browser (Debian's chromium through Playwright; never a downloaded browser).

One walk through what an operator and a front-office viewer do: log in, open the list, filter to the dead
letters, open a message, replay it once the downstream is fixed, search a client by BSN and follow a zaak's
timeline, read the audit of all that; and what a viewer cannot do. Every step saves a screenshot to
``out/console-screenshots/`` (and, with OVERSTAP_UPDATE_SCREENSHOT=1, to docs/img/ for docs/console.md). No page may
run a script, keep anything in browser storage, or carry the full BSN in its address or (outside a payload view) its
text.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from console_helpers import ADMIN_KEY, BSN, USERS, Running, console_config, failing_chains
from proxy_helpers import ServerThread, Start, sample, wait_for
from reconvert_helpers import StrictReceiver, broken_registry, fix_mapping

from gateway.testbed.app import create_app as reference_app

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "out" / "console-screenshots"
DOCS = {"messages", "message", "replay-confirm", "client", "zaak", "health", "purge-preview",
        "health-quarantine-full", "reconvert-confirm", "reconvert-done", "audit", "audit-not-written",
        "audit-unread"}
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


def audit_broken(page: Any, base: str, audit: Path) -> None:
    """The audit file made a full disk, then a directory: a replay done but not in the audit log (the warning), and
    the audit page that cannot read the log (503, saying why); the file put back as it was."""
    page.goto(base + "/console/messages?status=dead")
    page.locator("table.list tbody tr").first.locator("a").first.click()
    page.wait_for_url("**/console/messages/*")  # a payload view: audited, so before the log breaks
    page.locator("a.button", has_text="Replay").first.click()
    page.wait_for_url("**/replay")
    kept = audit.read_bytes()
    audit.unlink()
    audit.symlink_to("/dev/full")  # every write fails as on a full disk
    page.click("button.danger")
    text = page.locator("main").inner_text()
    assert "Queued again" in text and "Not in the audit log." in text and "No space left on device" in text
    private(page)
    shot(page, "audit-not-written")
    audit.unlink()
    audit.mkdir()
    answer = page.goto(base + "/console/audit")
    assert answer is not None and answer.status == 503
    assert "The audit log could not be read." in page.locator("main").inner_text()
    shot(page, "audit-unread")
    audit.rmdir()
    audit.write_bytes(kept)


def test_an_operator_and_a_viewer_in_chromium(failing: Running, tmp_path: Path) -> None:
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
            page.locator("header a", has_text="Audit").click()  # the operator's record of the walk so far
            page.wait_for_url("**/console/audit")
            actions = page.locator("table.audit td.action").all_inner_texts()
            assert actions[:2] == ["view_zaak", "client_search"] and actions[-1] == "login" and "replay" in actions
            private(page)
            shot(page, "audit")
            page.goto(base + "/console/shadow")
            shot(page, "shadow")
            for cookie in page.context.cookies():
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and BSN not in cookie["value"]
            audit_broken(page, base, tmp_path / "data" / "console-audit.jsonl")

            viewer = log_in(browser, base, "vera")
            viewer.locator("table.list tbody tr").last.locator("a").first.click()
            viewer.wait_for_url("**/console/messages/*")
            assert viewer.locator("a.button", has_text="Replay").count() == 0
            shot(viewer, "viewer-message")
            assert viewer.locator("header a", has_text="Purge").count() == 0
            assert viewer.locator("header a", has_text="Audit").count() == 0
            viewer.click("form.logout button")
            viewer.wait_for_url("**/console/login")
        finally:
            browser.close()
    assert not refused, f"the page tried something the CSP forbids: {refused}"


def test_an_operator_re_converts_messages_refused_for_a_mapping_fault_in_chromium(start: Start, tmp_path: Path) -> None:
    """Chain B's toewijzing rendered with a wrong volume, refused by a receiver on 127.0.0.1 that checks it, and its
    start of zorg after it (no such zaak there); the mapping fixed and reloaded; the operator re-converts from the
    message page and sees the new messages, which the receiver then holds as the source says."""
    sync_playwright = browser_entry()
    receiver = StrictReceiver()
    with ServerThread(reference_app(receiver)) as ds:
        server, gw = start({"default": {"downstream": ds.url + "/soap"}}, {}, reg=broken_registry(tmp_path),
                           admin_key=ADMIN_KEY, console=console_config())
        assert gw.db_path is not None

        def rows(sql: str) -> list[tuple[Any, ...]]:
            with closing(sqlite3.connect(gw.db_path)) as conn:  # type: ignore[arg-type]
                return [tuple(r) for r in conn.execute(sql)]

        for name in ("CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml"):
            assert httpx.post(server.url + "/soap", content=sample(name), timeout=30).status_code == 200
        assert wait_for(lambda: rows("SELECT status FROM delivery") == [("dead",), ("dead",)], timeout=60)
        ((zaak,),) = rows("SELECT DISTINCT zaak FROM delivery")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = log_in(browser, server.url, "otto")
                page.goto(server.url + "/console/messages?status=dead")  # the bulk action: a box, then confirm
                page.check("input[name=message][value='2']")
                page.click("form#bulk button[type=submit]")
                page.wait_for_url("**/console/reconvert?message=2")
                assert page.locator("#involved a").all_inner_texts() == ["message 1", "message 2"]
                page.locator("main a", has_text="Cancel").click()
                page.wait_for_url("**/console/messages/2")

                fix_mapping(tmp_path)  # the integrator's fix, reloaded into the running sidecar
                reloaded = httpx.post(server.url + "/admin/reload", headers={"X-Admin-Key": ADMIN_KEY}, timeout=60)
                assert reloaded.json()["reloaded"]
                page.goto(server.url + "/console/messages/1")
                assert "StUF055" in page.locator("table.list").first.inner_text()
                page.locator("a.button", has_text="Re-convert").click()
                page.wait_for_url("**/console/reconvert?message=1")
                text = page.locator("main").inner_text()
                assert "not replayed" in text and "mappings of now" in text and zaak in text
                private(page)
                shot(page, "reconvert-confirm")
                page.click("button.danger")
                assert "Converted anew: 2 message(s)" in page.locator("[role=status]").inner_text()
                assert page.locator("#replaced li").all_inner_texts() == [
                    "message 1 is now message 3 (1 delivery queued)", "message 2 is now message 4 (1 delivery queued)"]
                private(page)
                shot(page, "reconvert-done")
                held = lambda: receiver.zaak(zaak)  # noqa: E731
                assert wait_for(lambda: held() is not None and len(held()["statussen"]) >= 1, timeout=30)
                assert held()["extraElementen"]["product.omvang.volume"] == "22500"  # as the source says

                page.locator("#replaced a", has_text="message 3").click()
                page.wait_for_url("**/console/messages/3")
                assert wait_for(lambda: page.reload() is not None and "delivered" in page.locator("table.list")
                                .first.inner_text(), timeout=20)
                assert page.locator("#reconvert").count() == 0  # delivered: nothing to re-convert
                page.goto(server.url + "/console/messages/1")
                assert "converted anew as message 3" in page.locator("dl.facts").inner_text()
                assert page.locator("a.button").count() == 0  # no Replay, no Re-convert: superseded
                private(page, payloads=True)
            finally:
                browser.close()
