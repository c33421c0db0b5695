"""Where the console reads and writes: the SQLite outbox file, or the sidecar's shared PostgreSQL store.

The seam between the pages and the database: the pages and :mod:`gateway.console.queries` take a connection and
do not care which; a source hands out read-only connections for the pages, a writing one for the console's own
indexes and a purge, and says which dialect the SQL must be written in. On PostgreSQL the read connections are
read-only for the whole session (``default_transaction_read_only``), so no read page can change the outbox even
through a function that opens its own transaction; a purge takes the store's write lock like every replica's writer;
the shared sessions and audit rows (schema 0010) are single statements on a few pooled writing connections.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

READ_POOL = 4
"""Idle read connections kept for PostgreSQL (a connection costs a few ms; a page makes several reads)."""
READ_ONLY = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
APPLICATION = "overstap-console"
"""The ``application_name`` of every console connection (``pg_stat_activity`` tells them from the replicas' own)."""


def stale(conn: PgConnection) -> bool:
    """Whether the server has ended this idle pooled connection (a restart, a fail-over, ``pg_terminate_backend``):
    its socket is readable though nothing was asked (the server's goodbye, or the end of the stream). No round trip;
    handed out, it would fail the next page's session check (a 500) and only then be dropped (before session 29)."""
    if conn.closed:
        return True
    try:  # poll, not select: select refuses a descriptor past 1023, which a busy sidecar's may be
        poller = select.poll()
        poller.register(conn.raw.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


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

    @property
    def closed(self) -> bool:
        return False


class PgSource:
    """The sidecar's PostgreSQL store; read connections read-only for their session and reused a few at a time, and
    a few writing ones for the sessions and the audit (each statement its own transaction, no store write lock).
    :meth:`close` (the sidecar's shutdown) closes every idle one and any handed back later, so a stopped replica
    leaves no session of the console on the server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[PgConnection] = []
        self._idle_rw: list[PgConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _pooled(self, pool: list[PgConnection]) -> PgConnection | None:
        """An idle connection of ``pool`` the server has not ended (those it has are closed on the way), or None."""
        while True:
            with self._lock:
                conn = pool.pop() if pool else None
            if conn is None or not stale(conn):
                return conn
            conn.close()

    def read_conn(self) -> Any:
        pooled = self._pooled(self._idle)
        if pooled is not None:
            return pooled
        conn = PgConnection(self.url, application_name=APPLICATION)
        conn.execute(READ_ONLY)
        return conn

    def done(self, conn: Any, ok: bool) -> None:
        """Back to the pool after a read that went well; closed after one that failed (it may be broken)."""
        self._back(self._idle, conn, ok)

    def _back(self, pool: list[PgConnection], conn: Any, ok: bool) -> None:
        with self._lock:
            if ok and not self._closed and not conn.closed and len(pool) < READ_POOL:
                pool.append(conn)
                return
        conn.close()

    def write_conn(self) -> Any:
        return PgConnection(self.url, application_name=APPLICATION)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Any]:
        """A pooled writing connection in autocommit (the session and audit rows), back to the pool after use."""
        conn = self._pooled(self._idle_rw)
        if conn is None:
            conn = PgConnection(self.url, application_name=APPLICATION)
        ok = False
        try:
            yield conn
            ok = True
        finally:
            self._back(self._idle_rw, conn, ok)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle, self._idle_rw = [*self._idle, *self._idle_rw], [], []
        for conn in idle:
            conn.close()


Source = SqliteSource | PgSource


def source_of(db_path: Path, store: str | None) -> Source:
    """The store's source when the sidecar has one (``store: postgresql://…``), else the SQLite outbox file."""
    return PgSource(store) if store else SqliteSource(db_path)
