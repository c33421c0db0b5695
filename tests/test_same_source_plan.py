"""The duplicate check of a message that is no retour reads one index range in id order, without a sort.

Why: session 27 made the check name a retour's key beside its unmarked form (``source_key IN (?, ?)``) for every
message; two keys had SQLite sort the rows found in a temporary B-tree for the ``ORDER BY id``. Session 28 measured
that at ~130 µs a message on the sidecar's writer thread (the query alone: ~60 µs with one key, ~190 µs with two, on
a proxy_bench outbox of 4,200 messages): most of what the server process had grown per message. A retour still
names both keys, and still meets a retour stored under the unmarked one (tests/test_ggk_retour_identity.py). A real
SQLite outbox at head; the statement the check runs is taken from SQLite's own trace and its plan asked of SQLite.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.deliver import outbox


def message(key: str, content: str = "c1") -> outbox.NewMessage:
    return outbox.NewMessage(route="default", mode="translate", original=b"<x/>", mapping="m",
                             source_key=key, content_sha256=content)


def stored(conn: sqlite3.Connection, key: str, n: int) -> None:
    conn.execute("INSERT INTO message (received_at, last_received_at, route, mode, status, body_sha256, source_key,"
                 " content_sha256, mapping, original) VALUES (0, 0, 'default', 'translate', 'accepted', ?, ?, 'c1',"
                 " 'm', x'00')", (f"sha{n}", key))


@pytest.fixture
def conn(tmp_path: Path) -> sqlite3.Connection:
    db = outbox.connect(outbox.open_db(tmp_path))
    for n in range(20):
        stored(db, f"A|{n}|20240101", n)
    return db


def checked(conn: sqlite3.Connection, key: str) -> tuple[int | None, str, list[str]]:
    """What the check found, the statement it ran (values in) and that statement's plan."""
    ran: list[str] = []
    conn.set_trace_callback(ran.append)
    try:
        found = outbox._same_source(conn, message(key))
    finally:
        conn.set_trace_callback(None)
    (statement,) = [s for s in ran if s.startswith("SELECT id, content_sha256 FROM message")]
    return found, statement, [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement)]


def test_a_message_that_is_no_retour_is_looked_up_without_a_sort(conn: sqlite3.Connection) -> None:
    found, statement, plan = checked(conn, "A|7|20240101")
    assert found == 8  # the 8th row stored: found as before
    assert plan == ["SEARCH message USING INDEX message_source (route=? AND source_key=?)"], plan
    assert statement.count("A|7|20240101") == 2  # the key, and its own mapping's test; no second key
    assert checked(conn, "A|99|20240101")[0] is None


def test_a_retour_still_names_its_unmarked_key(conn: sqlite3.Connection) -> None:
    stored(conn, "B|1|20240101", 20)  # a retour as stored before session 27: its 301's key, unmarked
    found, statement, _plan = checked(conn, outbox.RETOUR_KEY + "B|1|20240101")
    assert found == 21
    assert "source_key IN ('retour|B|1|20240101', 'B|1|20240101')" in statement
