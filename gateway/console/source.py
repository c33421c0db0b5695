"""Where the console reads and writes: the SQLite outbox file, or the sidecar's shared PostgreSQL store.

The seam between the pages and the database: the pages and :mod:`gateway.console.queries` take a connection and
do not care which; a source hands out read-only connections for the pages, a writing one for the console's own
indexes and a purge, and says which dialect the SQL must be written in. On PostgreSQL the read connections are
read-only for the whole session (``default_transaction_read_only``), so no read page can change the outbox even
through a function that opens its own transaction; the few writes (indexes, purge) take the store's write lock like
every replica's writer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

READ_POOL = 4
"""Idle read connections kept for PostgreSQL (a connection costs a few ms; a page makes several reads)."""
READ_ONLY = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"


def is_pg(conn: Any) -> bool:
    """Whether ``conn`` is a PostgreSQL store's connection (the queries pick their dialect by this)."""
    return isinstance(conn, PgConnection)


class SqliteSource:
    """The outbox file in the data dir; a read connection opened per read (``mode=ro``: it cannot write)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def read_conn(self) -> Any:
        from .queries import connect_ro

        return connect_ro(self.db_path)

    def done(self, conn: Any, ok: bool) -> None:
        conn.close()

    def write_conn(self) -> Any:
        return outbox.connect(self.db_path)

    def close(self) -> None:
        """Nothing kept open."""


class PgSource:
    """The sidecar's PostgreSQL store; read connections read-only for their session and reused a few at a time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[PgConnection] = []
        self._lock = threading.Lock()

    def read_conn(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = PgConnection(self.url, application_name="overstap-console")
        conn.execute(READ_ONLY)
        return conn

    def done(self, conn: Any, ok: bool) -> None:
        """Back to the pool after a read that went well; closed after one that failed (it may be broken)."""
        with self._lock:
            if ok and not conn.closed and len(self._idle) < READ_POOL:
                self._idle.append(conn)
                return
        conn.close()

    def write_conn(self) -> Any:
        return PgConnection(self.url, application_name="overstap-console")

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


Source = SqliteSource | PgSource


def source_of(db_path: Path, store: str | None) -> Source:
    """The store's source when the sidecar has one (``store: postgresql://…``), else the SQLite outbox file."""
    return PgSource(store) if store else SqliteSource(db_path)
