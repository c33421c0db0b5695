"""The ledger read and written inside someone else's transaction, one job at a time: the shared-store sidecar.

With several replicas on one PostgreSQL database the render of a message must see what another replica
committed a moment ago, so it cannot run ahead of the commit as the staged ledger does (gateway/ledger/
staged.py). Instead the group committer renders each message inside its write transaction, which holds the
store's write lock: the job points this ledger at the transaction's connection, renders, stores the outputs,
and everything commits together (or the job's SAVEPOINT drops it all).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .base import LedgerTransaction, next_tijdstip
from .sqlite import _SqliteTransaction

Counter = Callable[[Any, str, str], str]
"""(connection, zender, now as yyyymmddhhmmssfff) -> the tijdstipBericht to use, taken atomically."""


class _JobTransaction(_SqliteTransaction):
    """The ledger tables on the job's connection, tijdstipBericht from the store's own counter when given."""

    def __init__(self, conn: Any, counter: Counter | None) -> None:
        super().__init__(conn)
        self.counter = counter

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        if self.counter is None:
            return super().tijdstip(zender, now)
        return self.counter(self.conn, zender, next_tijdstip(None, now))


class JobLedger:
    """A ledger over the connection of the job running in this thread (see :meth:`using`).

    ``counter`` hands out tijdstipBericht in one atomic statement (on PostgreSQL, where batch shards take
    values from the same row without the store's write lock)."""

    def __init__(self, counter: Counter | None = None) -> None:
        self._local = threading.local()
        self.counter = counter

    @contextmanager
    def using(self, conn: Any) -> Iterator[None]:
        """Ledger transactions in this block are SAVEPOINTs on ``conn`` (the caller's open transaction)."""
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("the shared-store ledger is read only inside an outbox write job")
        conn.execute("SAVEPOINT ledger")
        try:
            yield _JobTransaction(conn, self.counter)
        except BaseException:
            conn.execute("ROLLBACK TO ledger")
            conn.execute("RELEASE ledger")
            raise
        conn.execute("RELEASE ledger")

    def close(self) -> None:
        pass
