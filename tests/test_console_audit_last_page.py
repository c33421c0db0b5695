"""The Audit page's last page (session 33): Older is offered only when an older entry exists, on both stores.

Before, a search or a day range on the SQLite audit file holding exactly a multiple of 200 entries offered Older to
a page of nothing: the read stopped at the 200th match and could not tell "exactly 200" from "more". Now it reads on
to one match more (or to the range's start, the file's start, or the 8 MiB budget); PostgreSQL's page reads one row
past the page. The console is the real one over a real outbox or store; the entries are lines or rows shaped as the
console writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import console_helpers
import pg_helpers
from console_helpers import MakeLocal
from test_console_audit_search import add, shown

from gateway.console.auditlog import tail

server = pg_helpers.server  # one PostgreSQL server for this module
make = console_helpers.make  # a console on each store (the fixture)
COUNTS = {"2026-10-02": ("u200", 200), "2026-10-03": ("u400", 400), "2026-10-04": ("u201", 201)}
"""A day for each count, all its entries one user's: a search by the user or by the day finds just them."""


def entry(day: str, user: str, i: int) -> dict[str, Any]:
    return {"time": f"{day}T10:{i // 60:02d}:{i % 60:02d}+00:00", "user": user, "action": "view_payload",
            "message_id": i}


def walk(client: Any, **params: str) -> list[tuple[int, bool]]:
    """Each page's entries and whether it offers Older, following Older (at most five pages); Newer from the last
    page leads back to the one before."""
    rows, links = shown(client, **params)
    pages = [(rows, links)]
    while "Older" in links and len(pages) < 5:
        rows, links = shown(client, "/console/audit" + links["Older"])
        pages.append((rows, links))
    if len(pages) > 1:
        assert shown(client, "/console/audit" + pages[-1][1]["Newer"])[0] == pages[-2][0]
    return [(len(rows), "Older" in links) for rows, links in pages]


def test_older_is_offered_only_when_an_older_entry_exists_on_both_stores(make: MakeLocal) -> None:
    """200, 400 and 201 entries, searched by user and by day, between older and newer entries of others: a last
    page that is full offers no Older; one entry more is on a page of its own."""
    local = make()
    others = [entry("2026-10-01", "ben", i) for i in range(30)]
    for day, (user, count) in COUNTS.items():
        others += [entry(day, user, i) for i in range(count)]
    add(local, others + [entry("2026-10-05", "ben", i) for i in range(30)])
    otto = local.login("otto")
    expected = {"u200": [(200, False)], "u400": [(200, True), (200, False)], "u201": [(200, True), (1, False)]}
    for day, (user, _count) in COUNTS.items():
        assert walk(otto, user=user) == expected[user], user
        assert walk(otto, **{"from": day, "to": day}) == expected[user], day
        assert walk(otto, user=user, action="view_payload", **{"from": "2026-10-01"}) == expected[user], user
    assert walk(otto, user="ben") == [(60, False)]


def lines(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e, sort_keys=True).encode() + b"\n" for e in entries)


def test_a_torn_line_past_a_full_page_is_counted_by_the_page_that_reads_it_last(tmp_path: Path) -> None:
    """A line torn by a crash older than a full page: counted by that page when no older page follows, else by the
    older page (which reads it again), never by both."""
    audit = tmp_path / "console-audit.jsonl"
    audit.write_bytes(b'{"time": "2026-10-01T09:00:00+00:00", "us\n' + lines(
        [entry("2026-10-02", "anna", i) for i in range(200)]))
    found = tail(audit, 200)
    assert (len(found.entries), found.skipped, found.older) == (200, 1, None)
    audit.write_bytes(lines([entry("2026-10-01", "anna", 0)]) + b'{"torn\n' + lines(
        [entry("2026-10-02", "anna", i) for i in range(200)]))
    found = tail(audit, 200)
    assert (len(found.entries), found.skipped) == (200, 0) and found.older is not None
    older = tail(audit, 200, before=found.older)
    assert ([e["time"] for e in older.entries], older.skipped, older.older) == (
        ["2026-10-01T10:00:00+00:00"], 1, None)


def test_a_full_page_whose_look_ahead_the_budget_stops_offers_older_from_where_it_stopped(tmp_path: Path) -> None:
    """Past a full page the read goes on to one match more within the visit's budget: when the budget ends it first,
    whether there is more is unknown, so Older is offered from the oldest line read (not from the page's oldest
    entry: the lines between hold no match and are not read again) and the older page finds the last match."""
    audit = tmp_path / "console-audit.jsonl"
    first = lines([entry("2026-10-01", "anna", 0)])
    filler = lines([entry("2026-10-01", "ben", i) for i in range(1000)])
    newest = lines([entry("2026-10-02", "anna", i) for i in range(200)])
    data = first + filler + newest
    audit.write_bytes(data)
    budget = len(newest) + len(filler) // 2
    floor = len(data) - budget
    wanted = lambda e: e["user"] == "anna"  # noqa: E731
    found = tail(audit, 200, budget=budget, wanted=wanted)
    assert len(found.entries) == 200 and not found.cut
    assert found.older == data.index(b"\n", floor) + 1  # the oldest line read whole starts there
    older = tail(audit, 200, budget=budget, wanted=wanted, before=found.older)
    assert [e["message_id"] for e in older.entries] == [0] and older.older is None and not older.cut
