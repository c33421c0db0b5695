"""The batch's ledger stages a chunk's writes in memory and writes them at the chunk's commit: the rows must be
those the per-statement ledger wrote, and what a chunk staged must never outlive it.

Why: the parent renders every message against ``--state``; a message that fails must leave nothing (as its
SAVEPOINT's rollback did), a later message of the chunk must read what an earlier one wrote, and the next chunk
must read the database again, where ``convert --state`` may have written between two chunks.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.batch.ledgered import SqliteChunks
from gateway.ledger.staged import ConnLedger

NOW = dt.datetime(2026, 12, 5, 6, 0, 0)
names = st.sampled_from(["a", "b", "c"])
op = st.one_of(
    st.tuples(st.just("bind"), names, names),
    st.tuples(st.just("state"), names, st.integers(0, 3)),
    st.tuples(st.just("tijdstip"), names, st.integers(0, 2)),
    st.tuples(st.just("remember"), names, names),
    st.tuples(st.just("read"), names, names),
)
message = st.tuples(st.lists(op, max_size=6), st.booleans())
"""A message's ledger operations, and whether its render fails after them."""


class Failed(Exception):
    pass


def apply(tx: object, ops: list[tuple[str, str, object]], seen: list[object]) -> None:
    for kind, a, b in ops:
        if kind == "bind":
            tx.bind(f"k{a}", f"z{b}")  # type: ignore[attr-defined]
        elif kind == "state":
            tx.put_state(f"z{a}", {"n": b, "s": [a] * int(b)})  # type: ignore[attr-defined]
        elif kind == "tijdstip":
            seen.append(tx.tijdstip(f"zender-{a}", NOW + dt.timedelta(milliseconds=int(b))))  # type: ignore[attr-defined]
        elif kind == "remember":
            tx.remember("kind", f"r{a}", f"v{b}")  # type: ignore[attr-defined]
        else:
            seen.append((tx.zaak_for([f"k{a}", f"k{b}"]), tx.state(f"z{a}"),  # type: ignore[attr-defined]
                         tx.recall("kind", f"r{b}")))  # type: ignore[attr-defined]


def rows(conn: sqlite3.Connection) -> list[object]:
    return [list(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")) for table in
            ("chain_key", "zender_tijdstip", "remembered")] + [list(conn.execute(
                "SELECT zaak, state FROM zaak_state ORDER BY zaak"))]


def per_statement(chunks: list[list[tuple[list[tuple[str, str, object]], bool]]]) -> tuple[list[object], list[object]]:
    """The reference: each message a SAVEPOINT of the chunk's transaction, each write a statement (ConnLedger)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ledger, seen = ConnLedger(conn), []
    for chunk in chunks:
        conn.execute("BEGIN IMMEDIATE")
        for ops, fails in chunk:
            with pytest.raises(Failed) if fails else _nothing(), ledger.transaction() as tx:
                apply(tx, ops, seen)
                if fails:
                    raise Failed
        conn.execute("COMMIT")
    return rows(conn), seen


class _nothing:
    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(message, max_size=5), max_size=4))
def test_a_chunks_staged_writes_give_the_rows_and_reads_of_one_statement_each(
        chunks: list[list[tuple[list[tuple[str, str, object]], bool]]]) -> None:
    store, seen = SqliteChunks("none"), []
    for chunk in chunks:
        store.begin()
        for ops, fails in chunk:
            with pytest.raises(Failed) if fails else _nothing(), store.transaction() as tx:
                apply(tx, ops, seen)
                if fails:
                    raise Failed
        store.commit()
    assert (rows(store.conn), seen) == per_statement(chunks)


def test_a_chunk_rolled_back_leaves_nothing_staged_for_the_next(tmp_path: Path) -> None:
    store = SqliteChunks(str(tmp_path))
    store.begin()
    with store.transaction() as tx:
        tx.bind("k", "z1")
        tx.put_state("z1", {"n": 1})
    store.rollback()
    store.begin()
    with store.transaction() as tx:
        assert tx.zaak_for(["k"]) is None and tx.state("z1") is None
    store.commit()
    assert rows(store.conn) == [[], [], [], []]


def test_the_next_chunk_reads_what_another_process_wrote_between_chunks(tmp_path: Path) -> None:
    store = SqliteChunks(str(tmp_path))
    store.begin()
    with store.transaction() as tx:
        first = tx.tijdstip("zender", NOW)
        tx.bind("k", "z1")
    store.commit()
    other = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)  # convert --state, between chunks
    other.execute("UPDATE zender_tijdstip SET tijdstip = '20301231235959999'")
    other.execute("UPDATE chain_key SET zaak = 'z2'")
    other.close()
    store.begin()
    with store.transaction() as tx:
        assert tx.tijdstip("zender", NOW) == "20310101000000000" > first
        assert tx.zaak_for(["k"]) == "z2"
    store.commit()
    store.close()
