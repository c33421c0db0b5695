"""The audit page answers an auditor (session 31): who looked at this message, delivery or zaak, what did a user do
in a week; Older and Newer reach every entry of the log exactly once, on a SQLite outbox (the JSON-lines file, read
backwards from a byte offset) and on a real PostgreSQL (``console_audit``, keyset-paged on ``(at, id)``).

The console is the real one over a real outbox or store (Starlette's test client, no socket); the entries are the
console's own (a login, a payload viewed, a replay, a client search, a zaak opened) and, for the old and the many,
lines or rows shaped as the console writes them.
"""

from __future__ import annotations

import html
import json
import re
from contextlib import closing
from typing import Any

import console_helpers
import pg_helpers
import pytest
from console_helpers import BSN, Local, MakeLocal, csrf_of
from test_console_audit_import_sources import migrate

from gateway.console.auditquery import AuditFilter

server = pg_helpers.server  # one PostgreSQL server for this module
make = console_helpers.make  # a console on each store (the fixture)
ROW = re.compile(r'<tr><td>([^<]+)</td><td>([^<]*)</td><td class="action">([^<]*)</td><td>([^<]*)</td>'
                 r'(?:<td class="source">[^<]*</td>)?</tr>')
LINK = re.compile(r'<a href="([^"]+)" rel="(next|prev)">(Older|Newer|Go on reading older entries|Go on reading newer '
                  r'entries)</a>')


def add(local: Local, entries: list[dict[str, Any]], source: str | None = None) -> None:
    """Entries as the console writes them: lines of the data dir's file, or rows of the store's ``console_audit``."""
    if local.store is None:
        with (local.folder / "console-audit.jsonl").open("a", encoding="utf-8") as out:
            out.writelines(json.dumps(e, sort_keys=True) + "\n" for e in entries)
        return
    from gateway.pgstore.conn import PgConnection

    with closing(PgConnection(local.store)) as pg, pg.raw.cursor() as cur:
        cur.executemany("INSERT INTO console_audit (at, account, action, details, source) VALUES (%s, %s, %s, "
                        "%s::jsonb, %s)", [(e["time"], e["user"], e["action"], json.dumps(
                            {k: v for k, v in e.items() if k not in ("time", "user", "action")}), source)
                            for e in entries])


def shown(client: Any, address: str = "/console/audit", **params: str) -> tuple[list[tuple[str, ...]], dict[str, str]]:
    """The entries a page lists (time, user, action, details) and its links by name (Older, Newer, Go on…)."""
    page = client.get(address, params=params or None)  # an empty dict would drop the address's own query
    assert page.status_code == 200, page.text
    assert BSN not in page.text
    return ROW.findall(page.text), {name: html.unescape(href) for href, _rel, name in LINK.findall(page.text)}


def details(rows: list[tuple[str, ...]]) -> list[tuple[str, str, str]]:
    return [(r[1], r[2], r[3]) for r in rows]


def test_each_filter_finds_its_entries_and_no_other_on_both_stores(make: MakeLocal) -> None:
    local = make()
    add(local, [{"time": "2026-11-02T08:00:00+00:00", "user": "anna", "action": "view_payload", "message_id": 12},
                {"time": "2026-11-03T23:59:59+00:00", "user": "anna", "action": "reconvert", "message_ids": "112,12",
                 "converted": 2, "ok": True},
                {"time": "2026-11-04T00:00:00+00:00", "user": "ben", "action": "view_payload", "message_id": 112},
                {"time": "2026-11-05T10:00:00+00:00", "user": "ben", "action": "purge", "older_than_days": 30,
                 "dead": True, "quarantined": False, "deliveries": 1, "messages": 12}])
    otto = local.login("otto")
    page = otto.get("/console/messages/1")  # view_payload message 1
    token = csrf_of(page.text)
    assert otto.post("/console/deliveries/1/replay", data={"csrf": token, "confirm": "yes"}).status_code == 200
    found = otto.post("/console/clients", data={"csrf": token, "bsn": BSN})
    key = re.search(r'href="/console/zaken/(\d+)"', found.text).group(1)  # type: ignore[union-attr]
    assert otto.get(f"/console/zaken/{key}").status_code == 200
    local.login("vera")

    rows, _ = shown(otto)
    assert [r[2] for r in rows] == ["login", "view_zaak", "client_search", "replay", "view_payload", "login",
                                    "purge", "view_payload", "reconvert", "view_payload"]
    assert details(shown(otto, user="vera")[0]) == [("vera", "login", "")]
    assert details(shown(otto, user="ben")[0]) == [
        ("ben", "purge", "dead=True deliveries=1 messages=12 older_than_days=30 quarantined=False"),
        ("ben", "view_payload", "message_id=112")]
    assert [r[1:3] for r in shown(otto, action="view_payload")[0]] == [("otto", "view_payload"),
                                                                    ("ben", "view_payload"), ("anna", "view_payload")]
    # who looked at message 12 (as one of a re-conversion's too), not at 112 nor the purge's count of 12 messages
    assert details(shown(otto, id="12", kind="message")[0]) == [
        ("anna", "reconvert", "converted=2 message_ids=112,12 ok=True"), ("anna", "view_payload", "message_id=12")]
    assert details(shown(otto, id="12")[0]) == details(shown(otto, id="12", kind="message")[0])
    assert details(shown(otto, id="1", kind="delivery")[0]) == [
        ("otto", "replay", "delivery_id=1 message_id=1 ok=True")]
    assert [r[2] for r in shown(otto, id="1", kind="message")[0]] == ["replay", "view_payload"]
    zaak_1 = ["view_zaak"] if key == "1" else []  # on SQLite the zaak's number is its rowid: 1 too
    assert [r[2] for r in shown(otto, id="1")[0]] == [*zaak_1, "replay", "view_payload"]  # delivery 1: of message 1
    assert details(shown(otto, id=key, kind="zaak")[0]) == [("otto", "view_zaak", f"zaak_key={key}")]
    assert shown(otto, id="12", kind="zaak")[0] == [] and shown(otto, id="99")[0] == []
    # a range of UTC days, both ends whole days
    assert [r[0] for r in shown(otto, **{"from": "2026-11-03", "to": "2026-11-04"})[0]] == [
        "2026-11-04T00:00:00+00:00", "2026-11-03T23:59:59+00:00"]
    assert [r[2] for r in shown(otto, to="2026-11-03")[0]] == ["reconvert", "view_payload"]
    assert [r[2] for r in shown(otto, **{"from": "2026-11-05"})[0]][-1] == "purge"
    # combined: every filter must hold
    assert details(shown(otto, user="anna", action="view_payload", id="12", **{"from": "2026-11-02",
                                                                              "to": "2026-11-02"})[0]) == [
        ("anna", "view_payload", "message_id=12")]
    assert shown(otto, user="anna", action="purge")[0] == [] and shown(otto, user="ben", id="12")[0] == []
    page = otto.get("/console/audit", params={"user": "nobody"})
    assert "No entries match." in page.text and 'value="nobody"' in page.text  # the form keeps what was asked


def test_older_and_newer_reach_every_entry_once_on_both_stores(make: MakeLocal) -> None:
    """450 entries, many within one second (the order of equal times is the id's on PostgreSQL, the file's on
    SQLite): Older walks them all, newest first, each once; Newer walks back through the same pages."""
    local = make()
    entries = [{"time": f"2026-11-01T10:{i // 100:02d}:00+00:00", "user": "anna" if i % 3 else "ben",
                "action": "view_payload", "message_id": i} for i in range(450)]
    add(local, entries)
    otto = local.login("otto")
    pages, links = [], []
    rows, link = shown(otto)
    for _ in range(10):  # bounded: a link that led back to a page seen would otherwise walk forever
        pages.append(rows)
        links.append(link)
        if "Older" not in link:
            break
        rows, link = shown(otto, "/console/audit" + link["Older"])
    assert [len(p) for p in pages] == [200, 200, 51] and "Newer" not in links[0]
    walked = [r[3] for p in pages for r in p]
    assert walked == ["", *[f"message_id={i}" for i in range(449, -1, -1)]]  # otto's login first, then each once
    back = shown(otto, "/console/audit" + links[2]["Newer"])
    newest = shown(otto, "/console/audit" + back[1]["Newer"])
    assert back[0] == pages[1] and newest[0] == pages[0] and "Newer" not in newest[1]  # the newest page: no Newer
    # a filter pages too: ben's 150 of the 450, and anna's 300 in two pages
    assert [r[3] for r in shown(otto, user="ben")[0]] == [f"message_id={i}" for i in range(447, -1, -3)]
    anna, link = shown(otto, user="anna")
    older, link2 = shown(otto, "/console/audit" + link["Older"])
    assert "user=anna" in link["Older"] and "Older" not in link2
    assert [r[3] for r in anna + older] == [f"message_id={i}" for i in range(449, -1, -1) if i % 3]


HOSTILE = [({"user": "x" * 201}, "user: expected a name of at most 200 characters, no control characters"),
           ({"user": "a\x1bb"}, "user: expected a name of at most 200 characters, no control characters"),
           ({"action": "drop"}, "action: expected one of login, logout"),
           ({"id": "12a"}, "id: expected a message, delivery or zaak number, a whole number from 0 to"),
           ({"id": "\u00b2"}, "id: expected a message, delivery or zaak number"),
           ({"id": "9223372036854775808"}, "id: expected a message, delivery or zaak number"),
           ({"id": "1" * 5000}, "id: expected a message, delivery or zaak number"),
           ({"kind": "client", "id": "1"}, "kind: expected one of message, delivery, zaak"),
           ({"kind": "message"}, "kind: expected an id with it"),
           ({"from": "2026-02-30"}, "from: expected a date as YYYY-MM-DD that exists on the calendar"),
           ({"to": "7-12-2026"}, "to: expected a date as YYYY-MM-DD"),
           ({"from": "2026-12-02", "to": "2026-12-01"}, "to: expected a day on or after from"),
           ({"before": "-1"}, "before: expected "),
           ({"after": "x"}, "after: expected "),
           ({"before": "1", "after": "1"}, "before, after: expected one of them, not both"),
           ({"before": "99999999"}, "before: expected "),
           ({"after": "99999999"}, "after: expected ")]


def test_hostile_parameters_are_400s_naming_them_and_values_are_bound_on_both_stores(make: MakeLocal) -> None:
    local = make()
    otto = local.login("otto")
    sqlite = local.store is None
    cases = [*HOSTILE, ({"source": "file:abc"}, "source: only a PostgreSQL store's audit has sources") if sqlite
             else ({"source": "s" * 201}, "source: expected a name of at most 200 characters")]
    for query, why in cases:
        page = otto.get("/console/audit", params=query)
        assert page.status_code == 400, (query, page.status_code)
        assert why in html.unescape(page.text), (query, page.text[-600:])
        assert "x" * 201 not in page.text and "1" * 5000 not in page.text  # the value is never echoed
    gone = html.unescape(otto.get("/console/audit", params={"before": "99999999"}).text)
    assert ("which is shorter now (rotated or truncated" if sqlite else "there is no such entry") in gone
    for name in ("user", *(() if sqlite else ("source",))):  # text is bound, never built into the statement
        for value in ("x' OR '1'='1", "'; DROP TABLE console_audit; --", "%", "_"):
            assert shown(otto, **{name: value})[0] == [], (name, value)
    assert [r[1:3] for r in shown(otto)[0]] == [("otto", "login")]  # the table and its entry still there
    assert local.login("vera").get("/console/audit", params={"user": "otto"}).status_code == 403
    if sqlite:  # the file rotated away under a link: the link is stale, not "no entries"
        (local.folder / "console-audit.jsonl").rename(local.folder / "console-audit.jsonl.1")
        for cursor in ("before", "after"):
            page = otto.get("/console/audit", params={cursor: "0"})
            assert page.status_code == 400 and f"{cursor}: expected a position in the audit file, which is gone" \
                in page.text, page.text[-500:]


def test_the_file_budget_stops_a_search_and_the_page_offers_to_go_on(make: MakeLocal) -> None:
    """On the file a visit reads at most 8 MiB, backwards or forwards: a search whose matches are further away says
    where it stopped and goes on from there, until it has them all."""
    local = make()
    if local.store is not None:
        return  # the store's search is one indexed query: no budget (the test above pages it)
    anna = [{"time": f"2026-11-0{i}T09:00:00+00:00", "user": "anna", "action": "view_zaak", "zaak_key": i}
            for i in range(1, 6)]
    filler = [{"time": "2026-11-03T12:00:00+00:00", "user": "ben", "action": "view_payload",
               "message_id": 10**9 + i} for i in range(100_000)]  # about 9.5 MiB
    add(local, anna[:3] + filler + anna[3:])
    otto = local.login("otto")
    keys = ["zaak_key=5", "zaak_key=4"]
    page = otto.get("/console/audit", params={"user": "anna"}).text
    rows, links = shown(otto, user="anna")
    assert [r[3] for r in rows] == keys and "only the newest 8 MiB of the\n  audit file were read" in page
    assert "fewer than 200 matching entries" in page and links["Go on reading older entries"] == links["Older"]
    rows, links = shown(otto, "/console/audit" + links["Older"])
    assert [r[3] for r in rows] == ["zaak_key=3", "zaak_key=2", "zaak_key=1"] and "Older" not in links
    assert [r[3] for r in shown(otto, "/console/audit" + links["Newer"])[0]] == keys  # forwards to the end: newest
    rows, links = shown(otto, user="anna", after="0")  # from the file's start, forwards
    assert [r[3] for r in rows] == ["zaak_key=3", "zaak_key=2", "zaak_key=1"]
    assert links["Go on reading newer entries"] == links["Newer"] and "Older" not in links
    page = otto.get("/console/audit" + links["Newer"]).text  # the file's end came first: the newest page
    assert [r[3] for r in ROW.findall(page)] == keys and "Go on reading older entries" in page
    assert "Go on reading newer" not in page



FILTERS = {"console_audit_account_at": AuditFilter(user="rare"),
           "console_audit_action_at": AuditFilter(action="purge"),
           "console_audit_details": AuditFilter(id=777_777, kind="message"),
           "console_audit_source_at": AuditFilter(source="file:x")}
"""Each index of revision 0012 and a filter it serves, one that matches few of many entries."""


def test_revision_0012_indexes_the_filters_of_an_audit_migrated_from_0011(
        server: str, request: pytest.FixtureRequest) -> None:
    """A store at 0011 holding 20,000 entries, migrated by ``overstap store migrate``: the four indexes are there,
    PostgreSQL's plan of each rare filter's page reads its own index, and the page finds just those entries."""
    from gateway.console.auditlog import PgAuditLog, select
    from gateway.console.source import PgSource
    from gateway.pgstore.conn import PgConnection

    url = migrate(pg_helpers.database_for(server, request, "search"), "0011")
    with closing(PgConnection(url)) as pg:
        pg.execute("INSERT INTO console_audit (at, account, action, details, source) SELECT to_char(timestamp "
                   "'2026-10-01' + g * interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00', "
                   "'user' || (g % 7), 'view_payload', jsonb_build_object('message_id', g), NULL "
                   "FROM generate_series(1, 20000) g")
        for account, action, details, source in (("rare", "login", {}, None), ("ben", "purge", {"messages": 2}, None),
                                                 ("ben", "view_payload", {"message_id": 777_777}, None),
                                                 ("anna", "login", {}, "file:x"), ("anna", "logout", {}, "file:x")):
            pg.execute("INSERT INTO console_audit (at, account, action, details, source) VALUES "
                       "('2026-10-05T00:00:00+00:00', ?, ?, ?::jsonb, ?)",
                       (account, action, json.dumps(details), source))
        before = {r[0] for r in pg.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'console_audit'")}
    assert not before & set(FILTERS)
    migrate(url)
    with closing(PgConnection(url)) as pg:
        after = {r[0] for r in pg.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'console_audit'")}
        pg.execute("ANALYZE console_audit")
        for index, f in FILTERS.items():
            plan = "\n".join(r[0] for r in pg.execute("EXPLAIN " + select(f, None, 200)[0], select(f, None, 200)[1]))
            assert index in plan, (index, plan)
    assert set(FILTERS) <= after
    source = PgSource(url)
    try:
        log = PgAuditLog(source)
        assert [(e["user"], e["action"]) for e in log.page(FILTERS["console_audit_account_at"], 200).entries] == [
            ("rare", "login")]
        assert [e["messages"] for e in log.page(FILTERS["console_audit_action_at"], 200).entries] == [2]
        assert [e["user"] for e in log.page(FILTERS["console_audit_details"], 200).entries] == ["ben"]
        assert [e["action"] for e in log.page(FILTERS["console_audit_source_at"], 200).entries] == ["logout", "login"]
    finally:
        source.close()
