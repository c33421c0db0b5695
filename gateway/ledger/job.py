"""The ledger read and written inside someone else's transaction, one job at a time: the shared-store sidecar.

With several replicas on one PostgreSQL database the render of a message must see what another replica
committed a moment ago, so it cannot run ahead of the commit as the staged ledger does (gateway/ledger/
staged.py). Instead the group committer renders each message inside its write transaction, which holds the
store's write lock: the job points this ledger at the transaction's connection, renders, stores the outputs,
and everything commits together (or the job's SAVEPOINT drops it all).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .base import LedgerTransaction
from .sqlite import _SqliteTransaction


class JobLedger:
    """A ledger over the connection of the job running in this thread (see :meth:`using`)."""

    def __init__(self) -> None:
        self._local = threading.local()

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
            yield _SqliteTransaction(conn)
        except BaseException:
            conn.execute("ROLLBACK TO ledger")
            conn.execute("RELEASE ledger")
            raise
        conn.execute("RELEASE ledger")

    def close(self) -> None:
        pass
