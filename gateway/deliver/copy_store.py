"""Moving a sidecar's SQLite outbox onto PostgreSQL: ``overstap store copy`` (the upgrade path to replicas).

Why: a municipality that starts with one sidecar and SQLite, and later runs replicas on PostgreSQL, must not
lose what the outbox holds: pending deliveries (still to go), dead letters and quarantine (still to be
replayed), the dedup keys of every accepted message (a re-send must stay a re-send) and the zaak ledger
(the receiver holds those zaken: the sidecar must continue them, not create them again). Everything is
copied row for row with its ids, in one transaction under the store's write lock, into an empty store.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .store import PostgresStore

TABLES = ("message", "delivery", "chain_key", "zaak_state", "zender_tijdstip", "remembered")
"""Copied row for row, in this order (deliveries refer to their message)."""
IDENTITY = ("message", "delivery")
"""Tables whose ids are kept; the identity sequences then start past them."""
CAST = {"jsonb": "::jsonb", "timestamp with time zone": "::timestamptz"}
"""Target types SQLite keeps as text: the text is cast on the server (zaak states, ledger timestamps)."""
BATCH = 500
"""Rows read and sent at a time: bounds the memory payloads take."""


class TargetNotEmpty(ValueError):
    """The PostgreSQL store already holds rows: copying into it would mix two outboxes."""

    def __init__(self, held: dict[str, int]) -> None:
        super().__init__("the target store is not empty (" + ", ".join(f"{n} {t}" for t, n in held.items())
                         + "): copy into an empty store, or pass --replace to delete what it holds first")
        self.held = held


def held(conn: Any) -> dict[str, int]:
    """Rows per table of the store behind ``conn`` (a sqlite3 or PgConnection), the non-empty tables only."""
    counts = {table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}
    return {table: n for table, n in counts.items() if n}


def _columns(target: Any, table: str) -> dict[str, str]:
    rows = target.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
                          " AND table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _copy_table(source: sqlite3.Connection, target: Any, table: str) -> int:
    """Every row of ``table``, ids included; the number copied."""
    kinds = _columns(target, table)
    columns = [str(r[1]) for r in source.execute(f"PRAGMA table_info({table})")]
    missing = [c for c in columns if c not in kinds]
    if missing:
        raise ValueError(f"the target's {table} has no column {', '.join(missing)}: migrate it first")
    values = ", ".join("%s" + CAST.get(kinds[c], "") for c in columns)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"
    rows = source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
    copied = 0
    with target.raw.cursor() as cursor:
        while batch := rows.fetchmany(BATCH):
            cursor.executemany(insert, batch)
            copied += len(batch)
    return copied


def copy_outbox(source_path: Path, store: PostgresStore, *, replace: bool = False) -> dict[str, int]:
    """Copy the SQLite outbox at ``source_path`` (schema at head) into ``store`` (schema at head); rows per table.

    One transaction holding the store's write lock: all or nothing, and no replica writes meanwhile. A store
    that holds rows is refused (:class:`TargetNotEmpty`) unless ``replace``, which deletes them first. The
    outbox generation is carried over; the counts are checked before the commit.
    """
    source = sqlite3.connect(source_path, timeout=30.0, isolation_level=None)
    target = store.connect()
    try:
        source.execute("BEGIN")  # one consistent snapshot of the file
        target.execute("BEGIN IMMEDIATE")
        try:
            found = held(target)
            if found and not replace:
                raise TargetNotEmpty(found)
            if found:
                target.execute(f"TRUNCATE {', '.join(TABLES)}")
            copied = {table: _copy_table(source, target, table) for table in TABLES}
            generation = source.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            target.execute("INSERT INTO meta (key, value) VALUES ('generation', ?) ON CONFLICT (key) DO UPDATE"
                           " SET value = excluded.value", (int(generation[0]) if generation else 0,))
            for table in IDENTITY:  # the next row a replica stores gets an id past the copied ones
                target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                               f" coalesce(max(id), 0) + 1, false) FROM {table}")
            landed = {table: held(target).get(table, 0) for table in TABLES}
            if landed != copied:
                raise RuntimeError(f"the copy does not add up (copied {copied}, the store holds {landed})")
            target.execute("COMMIT")
        except BaseException:
            target.execute("ROLLBACK")
            raise
        return copied
    finally:
        source.close()
        target.close()
