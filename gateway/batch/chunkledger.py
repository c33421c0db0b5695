"""The batch's SQLite ledger within a chunk: each message's writes staged in memory, the chunk's written at its commit.

Why: rendered straight against SQLite, a message cost ~12 statements (a SAVEPOINT and its RELEASE, the
zender's tijdstip read and written for each output, the zaak's state and chain keys read and written), ~20 µs
of the parent's serial path. Within a chunk the parent holds the ledger's write lock (``BEGIN IMMEDIATE``), so
no other process can change what it read: a message reads its own writes, then the chunk's, then the database;
its writes join the chunk's when it renders without error (a failure drops them, as ``ROLLBACK TO`` its SAVEPOINT
did), and the chunk's last value of each row is written by one ``executemany`` a table just before the chunk
commits, in the same transaction as before (with the chunk's kept outputs). Nothing outlives the chunk: the next
one reads the database again, where a ``convert --state`` between two chunks may have written.

The chunk keeps each message's write set as it joined (:meth:`ChunkOverlay.mark`, :meth:`ChunkOverlay.rewind`): the
batch parent plans every member of a chunk before it writes their zakLk01s, and a member whose write fails its
guard is taken back out, with every member planned after it, as if it had failed in its own transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.ledger.base import LedgerTransaction
from gateway.ledger.staged import StagedTransaction, WriteSet, apply


def _merge(into: WriteSet, writes: WriteSet) -> None:
    into.keys.update(writes.keys)
    into.states.update(writes.states)
    into.tijdstip.update(writes.tijdstip)
    into.values.update(writes.values)


class ChunkOverlay:
    """The staged writes of the chunk in hand (see the module doc); :meth:`flush` before its COMMIT."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.chunk = WriteSet()
        self.joined: list[WriteSet] = []
        """Each message's writes in the order they joined :attr:`chunk` (which is their merge, in that order)."""

    def read(self, sql: str, args: tuple[str, ...]) -> tuple[str, ...] | None:
        """A row of the database (within the chunk's transaction)."""
        return self.conn.execute(sql, args).fetchone()  # type: ignore[no-any-return]

    def staged(self, table: str, key: Any) -> Any:
        """The chunk's staged value of ``key`` in ``table`` (a :class:`WriteSet` field), or None (then the database)."""
        return getattr(self.chunk, table).get(key)

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """One message's (the sidecar's staged transaction: its own writes, then the chunk's, then the database):
        its writes join the chunk's only when the block ends without error."""
        tx = StagedTransaction(self, WriteSet())
        yield tx
        _merge(self.chunk, tx.writes)
        self.joined.append(tx.writes)

    def mark(self) -> int:
        """Where the chunk stands now, for :meth:`rewind`."""
        return len(self.joined)

    def rewind(self, mark: int) -> None:
        """Take back every message's writes that joined since :meth:`mark` gave ``mark``: the chunk is again the
        merge of those before, as if the later messages had never rendered (a rare path: a write failing its guard
        after its message was planned)."""
        self.joined = self.joined[:mark]
        self.chunk = WriteSet()
        for writes in self.joined:
            _merge(self.chunk, writes)

    def drop(self) -> None:
        """The chunk rolls back: its staged writes go with it."""
        self.chunk = WriteSet()
        self.joined = []

    def flush(self) -> None:
        """Write the chunk's last value of each row, inside the chunk's transaction (the sidecar's
        :func:`~gateway.ledger.staged.apply`: one statement a table)."""
        chunk, self.chunk, self.joined = self.chunk, WriteSet(), []
        apply(self.conn, chunk)
