"""The console's health page shows the quarantine's fill against its caps, warns when it is full, and shows the
delivery attempts settled meanwhile (session 23).

Why: past ``quarantine_max_messages`` the sidecar answers refused messages 503 StUF046 and keeps nothing; an operator
looking at the console must see that (and what to do: review, convert again or purge) without reading /readyz. A real
sidecar on 127.0.0.1 with a cap of 2, junk posted until it is full, the page opened in Debian's chromium.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from console_helpers import BSN, console_config, login
from proxy_helpers import Receiver, ServerThread, Start, sample, wait_for
from test_console_browser import log_in, shot
from test_proxy_quarantine_bound import A02, junk
from test_proxy_refusal import table

from gateway.proxy.quarantine_bound import FULL_RECOUNT_SECONDS
from gateway.proxy.quarantining import STATE_WAIT_SECONDS


def test_the_health_page_shows_a_full_quarantine_and_what_to_do(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status="http", quarantine_max_messages=2,
                           console=console_config())
        assert httpx.post(server.url + "/soap", content=sample(A02), timeout=30).status_code == 200
        answers = [httpx.post(server.url + "/soap", content=junk(i), timeout=30).status_code for i in range(4)]
        assert answers == [400, 400, 503, 503]  # two kept, then full: not kept, "offer it again later"
        size = sum(len(junk(i)) for i in range(2))
        assert wait_for(lambda: table(gw, "delivery") and table(gw, "delivery")[0]["status"] == "delivered")
        target = str(table(gw, "delivery")[0]["target"])
        # the race a chain's Fo01 wins (tests/test_ggk_chain_refusal.py) counted on the gateway's own counter
        gw.metrics.settled_meanwhile_total.labels("default", target, "delivered").inc(3)
        sync_playwright = browser_entry()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = log_in(browser, server.url, "otto")
                page.goto(server.url + "/console/health")
                text = page.locator("main").inner_text()
                warning = page.locator("p.warning")
                assert warning.count() == 1 and "Quarantine full" in warning.inner_text()
                assert "503 StUF046" in warning.inner_text()
                assert warning.bounding_box()["y"] < 900  # in view on opening, not at the foot of the page
                assert warning.locator("a", has_text="quarantined messages").get_attribute("href") \
                    == "/console/messages?status=quarantined"
                assert warning.locator("a", has_text="purge").get_attribute("href") == "/console/purge"
                rows = [r.inner_text().split("\t") for r in page.locator("table.quarantine-bound tbody tr").all()]
                assert [[c.strip() for c in r[:3]] for r in rows] == [["Messages", "2", "2"],
                                                                      ["Body bytes", str(size), str(1024 ** 3)]]
                assert page.locator("table.quarantine-bound meter").first.get_attribute("value") == "2"
                settled = page.locator("td.settled")
                assert settled.count() == 1 and settled.inner_text() == "3"
                assert BSN not in text and "kapot" not in text  # no payload, no personal data
                shot(page, "health-quarantine-full")

                page.locator("p.warning a", has_text="quarantined messages").click()
                page.wait_for_url("**/console/messages?status=quarantined")
                assert page.locator("table.list tbody tr").count() == 2

                page.goto(server.url + "/console/purge")  # the operator purges the quarantine from the console
                page.fill("input[name=days]", "0")
                page.check("input[name=quarantined]")
                page.click("form.filters button[type=submit]")
                page.click("button.danger")
                assert not [m for m in table(gw, "message") if m["status"] == "quarantined"]

                def room() -> bool:
                    page.goto(server.url + "/console/health")
                    return page.locator("p.warning").count() == 0
                assert wait_for(room, timeout=10)  # counted anew from the store within a second, no refusal needed
                cells = page.locator("table.quarantine-bound tbody tr").first.locator("td")
                assert cells.nth(1).inner_text() == "0"
                assert "room left" in page.locator("main").inner_text()
            finally:
                browser.close()


def test_the_health_page_does_not_wait_for_a_count_behind_a_held_write_lock(start: Start) -> None:
    """A purge holds the outbox's write lock for up to a minute (docs/console.md); a health page opened meanwhile
    shows the bound's figures of before after STATE_WAIT_SECONDS, not after the purge."""
    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/none"}}, {}, fault_status="http",
                       quarantine_max_messages=1, require_downstream_ready=False, console=console_config())
    assert [httpx.post(server.url + "/soap", content=junk(i), timeout=30).status_code for i in range(2)] == [400, 503]
    client = login(server.url, "otto")
    held = sqlite3.connect(gw.db_path, isolation_level=None)
    try:
        held.execute("BEGIN IMMEDIATE")  # the writer's lock, as a purge's one transaction holds it
        time.sleep(FULL_RECOUNT_SECONDS + 0.1)  # full and stale: the page asks for a count
        began = time.monotonic()
        page = client.get("/console/health", timeout=30)
        took = time.monotonic() - began
        assert page.status_code == 200 and "Quarantine full" in page.text
        assert STATE_WAIT_SECONDS <= took < STATE_WAIT_SECONDS + 2, took
    finally:
        held.execute("ROLLBACK")
        held.close()
