"""The operator console on a PostgreSQL store (``store: postgresql://…``), against a real server.

The console's pages read through one set of queries whose SQL differs per dialect in a few places (a JSON path, the
zaak's number, an hour's bucket); these tests make the same assertions on a SQLite outbox and on PostgreSQL, so the
two cannot drift apart: the list with its filters and paging, a message, a zaak found by its client, health, the
replay confirmation, purge and logout. Then a real sidecar on PostgreSQL: a dead letter replayed from the console
once the downstream is fixed, and a purge, through the same store functions ``overstap outbox --store URL`` uses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from contextlib import closing
from pathlib import Path

import console_helpers
import pg_helpers
import psycopg
import pytest
from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from console_helpers import BSN, MakeLocal, csrf_of, failing_chains, hidden_fields, local_console, login
from pg_helpers import database_for
from proxy_helpers import Start, wait_for
from test_console_browser import log_in, private

from gateway.console import queries
from gateway.console.sessions import OWN_FILE
from gateway.console.source import PgSource, source_of
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server  # one PostgreSQL server for this module
make = console_helpers.make  # a console on each store (the fixture)
LISTED = re.compile(r'href="/console/messages/(\d+)"')
PURGED = re.compile(r"Purged (\d+) delivery\(ies\) and (\d+) message\(s\)")


def listed(client: object, **params: str) -> list[int]:
    page = client.get("/console/messages", params=params)  # type: ignore[attr-defined]
    assert page.status_code == 200, page.text
    return [int(i) for i in dict.fromkeys(LISTED.findall(page.text))]


def test_the_list_filters_and_pages_alike_on_both_stores(make: MakeLocal) -> None:
    otto = make().login("otto")
    assert listed(otto) == [4, 3, 2, 1]
    assert listed(otto, status="dead") == [1]
    assert listed(otto, status="delivered") == [2]
    assert listed(otto, status="pending") == [4]
    assert listed(otto, status="quarantined") == [3]
    assert listed(otto, status="accepted") == [4, 2, 1]
    assert listed(otto, route="nosuch") == [] and listed(otto, route="default") == [4, 3, 2, 1]
    assert listed(otto, **{"from": "2000-01-01", "to": "2000-01-02"}) == []
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    assert listed(otto, **{"from": yesterday}) == [4, 3, 2, 1] and listed(otto, to=yesterday) == []
    page = otto.get("/console/messages").text
    assert "*******82" in page and BSN not in page  # the client through the ledger's JSON, masked


def test_pages_of_two_rows_follow_their_cursor_on_both_stores(make: MakeLocal) -> None:
    otto = make({"page_size": 2}).login("otto")
    first = otto.get("/console/messages").text
    assert [int(i) for i in dict.fromkeys(LISTED.findall(first))] == [4, 3]
    after = re.search(r'href="\?before=(\d+)"', first)
    assert after and after.group(1) == "3"
    assert listed(otto, before="3") == [2, 1]
    assert listed(otto, status="dead", before="2") == [1]


def test_a_message_its_zaak_and_its_client_on_both_stores(make: MakeLocal) -> None:
    local = make()
    otto = local.login("otto")
    page = otto.get("/console/messages/1")
    assert page.status_code == 200 and "R1" in page.text
    assert "/console/deliveries/1/replay" in page.text  # a dead letter: the operator may replay it
    zaak = re.search(r'href="/console/zaken/(\d+)"', page.text)
    assert zaak, "the message links its zaak"
    found = otto.post("/console/clients", data={"csrf": csrf_of(page.text), "bsn": BSN})
    assert found.status_code == 200 and BSN not in found.text and "*******82" in found.text
    assert re.findall(r'href="/console/zaken/(\d+)"', found.text) == [zaak.group(1)]
    timeline = otto.get(f"/console/zaken/{zaak.group(1)}")
    assert timeline.status_code == 200 and "Zaak Z-1" in timeline.text and BSN not in timeline.text
    assert re.findall(r'href="/console/messages/(\d+)"', timeline.text) == ["1", "2", "4"]
    assert otto.get(f"/console/zaken/{int(zaak.group(1)) + 1}").status_code == 404
    assert otto.get("/console/messages/99").status_code == 404


AUDITED = re.compile(r'<tr><td>[^<]+</td><td>(\w+)</td><td class="action">(\w+)</td><td>([^<]*)</td></tr>')


def test_the_audit_page_shows_the_newest_entries_to_an_operator_on_both_stores(make: MakeLocal) -> None:
    """The file's lines on SQLite, the store's ``console_audit`` on PostgreSQL: the same entries, newest first."""
    local = make()
    otto = local.login("otto")
    page = otto.get("/console/messages/1")
    assert otto.post("/console/clients", data={"csrf": csrf_of(page.text), "bsn": BSN}).status_code == 200
    vera = local.login("vera")
    assert vera.get("/console/audit").status_code == 403 and "Audit</a>" not in vera.get("/console/messages").text
    audit = otto.get("/console/audit")
    assert audit.status_code == 200 and BSN not in audit.text
    assert AUDITED.findall(audit.text) == [("vera", "login", ""), ("otto", "client_search", "results=1"),
                                           ("otto", "view_payload", "message_id=1"), ("otto", "login", "")]


def test_every_zaak_of_a_client_opens_on_both_stores(make: MakeLocal) -> None:
    """A zaak's number in its address: SQLite's rowid, on PostgreSQL a hash of its identificatie kept positive (the
    hash of 0384B658 is negative: unmasked, its address would be one no route takes)."""
    local = make()
    local.sql("INSERT INTO zaak_state (zaak, state, updated_at) VALUES ('0384B658', ?, '2026-01-02')",
              json.dumps({"initiator": {"bsn": BSN}}))
    otto = local.login("otto")
    page = otto.get("/console/clients")
    found = otto.post("/console/clients", data={"csrf": csrf_of(page.text), "bsn": BSN})
    links = re.findall(r'href="/console/zaken/([^"]+)"', found.text)
    assert len(links) == 2
    opened = [otto.get(f"/console/zaken/{key}") for key in links]
    assert [r.status_code for r in opened] == [200, 200]
    assert ["Zaak 0384B658" in opened[0].text, "Zaak Z-1" in opened[1].text] == [True, True]


def test_health_counts_on_both_stores(make: MakeLocal) -> None:
    local = make()
    page = local.login("vera").get("/console/health")
    assert page.status_code == 200
    row = re.search(r"<tr><td>default</td><td>zaken</td>(.*?)</tr>", page.text, re.S)
    assert row and re.findall(r'class="num">(\d+)<', row.group(1))[:3] == ["1", "1", "1"]  # pending, delivered, dead
    source = source_of(local.db, local.store)
    conn = source.read_conn()
    try:
        figures = queries.health(conn)
    finally:
        source.done(conn, False)
    assert figures.messages == 4 and figures.quarantined == {"default": 1} and figures.last_hour == 4


def test_a_message_late_in_an_hour_counts_in_that_hour_on_both_stores(make: MakeLocal) -> None:
    """PostgreSQL's CAST to an integer rounds where SQLite's truncates: a message at 12:59:59.6 is 12 o'clock's."""
    local = make()
    now = time.time()
    hour = (now // 3600 - 3) * 3600  # the fixture's four messages, ~100 s old, may fall in the hour before this one
    local.sql("INSERT INTO message (id, received_at, last_received_at, route, mode, status, body_sha256, original)"
              " VALUES (5, ?, ?, 'default', 'live', 'accepted', 'h5', ?)", hour + 3599.6, hour + 3599.6, b"<m/>")
    source = source_of(local.db, local.store)
    conn = source.read_conn()
    try:
        per_hour = dict(queries.health(conn, now).per_hour)
    finally:
        source.done(conn, False)
    assert (per_hour[hour], per_hour[hour + 3600]) == (1, 0)


def test_replay_asks_first_and_refuses_a_live_delivery_on_both_stores(make: MakeLocal) -> None:
    otto = make().login("otto")
    confirm = otto.get("/console/deliveries/1/replay")
    assert confirm.status_code == 200 and "Yes, replay" in confirm.text
    done = otto.post("/console/deliveries/1/replay", data={"confirm": "yes", "csrf": csrf_of(confirm.text)})
    assert done.status_code == 200 and "Queued again" in done.text
    pending = otto.post("/console/deliveries/4/replay", data={"confirm": "yes", "csrf": csrf_of(confirm.text)})
    assert pending.status_code == 409


def test_purge_removes_what_its_preview_counted_on_both_stores(make: MakeLocal) -> None:
    local = make()
    otto = local.login("otto")
    preview = otto.get("/console/purge", params={"days": "0", "dead": "1"})
    assert re.search(r"remove <strong>2</strong> delivery\(ies\).*?<strong>2</strong> message", preview.text, re.S)
    forged = otto.post("/console/purge", data={**hidden_fields(preview.text), "deliveries": "1"})
    assert forged.status_code == 409 and "Nothing was removed" in forged.text
    assert len(local.sql("SELECT id FROM delivery")) == 3
    time.sleep(0.01)
    local.sql("UPDATE delivery SET status = 'dead', updated_at = ? WHERE id = 4", time.time())
    done = otto.post("/console/purge", data=hidden_fields(preview.text))
    assert done.status_code == 200 and PURGED.search(done.text).groups() == ("2", "2"), done.text
    assert local.sql("SELECT id FROM delivery ORDER BY id") == [(4,)]  # dead after the preview: it stays
    assert local.sql("SELECT id FROM message ORDER BY id") == [(3,), (4,)]


def test_logout_ends_the_session_on_both_stores(make: MakeLocal) -> None:
    local = make()
    otto = local.login("otto")
    copy = local.client()
    copy.cookies.update(otto.cookies)
    assert copy.get("/console/messages").status_code == 200
    page = otto.get("/console/messages")
    assert otto.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert copy.get("/console/messages").status_code == 303  # every copy of the cookie ends with it
    if local.store is None:  # the outbox file keeps its sessions
        with closing(__import__("sqlite3").connect(local.db)) as own:
            assert own.execute("SELECT count(*) FROM console_session").fetchone()[0] == 0
    else:  # the shared store keeps them (schema 0010), for every replica; no file of the console's any more
        assert local.sql("SELECT count(*) FROM console_session") == [(0,)]
        assert not local.db.exists()


def test_the_console_reads_postgresql_in_read_only_sessions(server: str, request: pytest.FixtureRequest,
                                                           tmp_path: Path) -> None:
    local = local_console(tmp_path, store=database_for(server, request, "con"))
    source = PgSource(str(local.store))
    conn = source.read_conn()
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE delivery SET status = 'pending' WHERE id = 1")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # an explicit transaction is read-only too
            conn.execute("BEGIN")
            try:
                conn.execute("DELETE FROM message WHERE id = 3")
            finally:
                conn.execute("ROLLBACK")
    finally:
        source.done(conn, False)
    assert local.sql("SELECT status FROM delivery WHERE id = 1") == [("dead",)]
    assert len(local.sql("SELECT id FROM message")) == 4
    indexes = {r[0] for r in local.sql("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'console_%'")}
    assert {"console_delivery_status", "console_zaak_bsn", "console_zaak_key", "console_message_route_id",
            "console_message_status_id"} <= indexes


def test_a_sidecar_on_postgresql_has_a_console_that_replays_and_purges(
        start: Start, server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The console in a sidecar with ``store: postgresql://…`` (refused at start before): the public chains'
    dead letters listed, one replayed through the gateway once the downstream is fixed, then purged."""
    store = database_for(server, request, "con")
    with failing_chains(start, store=store) as running:
        otto = login(running.gateway.url, "otto")
        listing = otto.get("/console/messages")
        assert listing.text.count('class="status-accepted"') == 6 and BSN not in listing.text
        first = int(LISTED.findall(listing.text)[-1])
        page = otto.get(f"/console/messages/{first}")
        assert page.status_code == 200 and "WMO315" in page.text and "wmo315.yaml:" in page.text
        link = re.search(r'href="(/console/deliveries/(\d+)/replay)"', page.text)
        assert link
        confirm = otto.get(link.group(1))
        running.receiver.behaviour = "bv"  # the downstream is fixed
        done = otto.post(link.group(1), data={"confirm": "yes", "csrf": csrf_of(confirm.text)})
        assert done.status_code == 200 and "Queued again" in done.text, done.text
        assert wait_for(lambda: len(running.receiver.received) == 1, timeout=30)
        assert wait_for(lambda: "delivered" in otto.get(f"/console/messages/{first}").text)
        with closing(PgConnection(store)) as pg:
            assert pg.execute("SELECT status FROM delivery WHERE id = ?", (int(link.group(2)),)).fetchone()[0] \
                == "delivered"
            before = pg.execute("SELECT count(*) FROM delivery").fetchone()[0]
        preview = otto.get("/console/purge", params={"days": "0"})
        purged = otto.post("/console/purge", data=hidden_fields(preview.text))
        assert purged.status_code == 200 and PURGED.search(purged.text).group(1) == "1", purged.text
        with closing(PgConnection(store)) as pg:
            assert pg.execute("SELECT count(*) FROM delivery").fetchone()[0] == before - 1
            assert pg.execute("SELECT count(*) FROM delivery WHERE status = 'delivered'").fetchone()[0] == 0
        assert otto.get("/console/health").status_code == 200
        assert otto.get("/console/shadow").status_code == 200
    data = tmp_path / "data"
    with closing(PgConnection(store)) as pg:  # the audit is the store's (schema 0010), one for every replica
        entries = [(r["action"], json.loads(r["details"])) for r in pg.execute(
            "SELECT action, details FROM console_audit ORDER BY id")]
    assert [a for a, _ in entries if a in ("replay", "purge")] == ["replay", "purge"]
    assert BSN not in json.dumps(entries)
    assert not (data / OWN_FILE).exists() and not (data / "outbox.sqlite3").exists()
    assert not (data / "console-audit.jsonl").exists()


def test_a_postgresql_backed_console_in_chromium(start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """An operator's walk in a real browser over a sidecar on PostgreSQL: the list filtered to the dead letters, the
    oldest message, the client's zaak found by BSN and its timeline, health; no script, no full BSN."""
    sync_playwright = browser_entry()
    with failing_chains(start, store=database_for(server, request, "con")) as running, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        refused: list[str] = []
        try:
            page = log_in(browser, running.gateway.url, "otto")
            page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
            assert page.locator("table.list tbody tr").count() == 6
            private(page)
            page.select_option("select[name=status]", "dead")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**/console/messages?status=dead**")
            assert page.locator("table.list tbody tr").count() == 6
            page.locator("table.list tbody tr").last.locator("a").first.click()  # the oldest: the 315
            page.wait_for_url("**/console/messages/*")
            assert "WMO315" in page.locator("h1").inner_text()
            private(page, payloads=True)
            page.goto(running.gateway.url + "/console/clients")
            page.fill("input[name=bsn]", BSN)
            page.click("form.filters button[type=submit]")
            assert "*******82" in page.locator("main").inner_text()
            private(page)
            page.locator("table.list a", has_text="0384B658").first.click()  # the B chain: 301, 305, 307
            page.wait_for_url("**/console/zaken/*")
            assert page.locator("ol.timeline li").count() == 5
            private(page)
            page.goto(running.gateway.url + "/console/health")
            assert "Messages stored\n6" in page.locator("main").inner_text()
            private(page)
        finally:
            browser.close()
    assert not refused, f"the page tried something the CSP forbids: {refused}"
