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
from console_helpers import BSN, Local, MakeLocal, csrf_of

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
    assert back[0] == pages[1] and shown(otto, "/console/audit" + back[1]["Newer"])[0] == pages[0]
    # a filter pages too: ben's 150 of the 450, and anna's 300 in two pages
    assert [r[3] for r in shown(otto, user="ben")[0]] == [f"message_id={i}" for i in range(447, -1, -3)]
    anna, link = shown(otto, user="anna")
    older, link2 = shown(otto, "/console/audit" + link["Older"])
    assert "user=anna" in link["Older"] and "Older" not in link2
    assert [r[3] for r in anna + older] == [f"message_id={i}" for i in range(449, -1, -1) if i % 3]
