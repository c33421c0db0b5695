"""The zaak ledger on PostgreSQL for ``overstap batch`` shards: one transaction per chunk, shards side by side.

A batch commits its ledger once per chunk (batch/ledgered.py); shards (``--shard I/N``) that share one database
split the messages by client, so no two shards touch the same zaak and their chunk transactions need not take
turns the way ``PostgresLedger``'s do (that would make N shards no faster than one). Two things are still shared:

* ``tijdstipBericht`` per zender, which must be strictly increasing whoever renders. It is handed out by one
  atomic statement on a second, autocommit connection, so a chunk never holds the zender's row while it renders;
  a value taken by a chunk that then rolls back is simply never used (a gap, not a repeat).
* The ledger's advisory lock, taken *shared* for each chunk: shards do not wait for each other, but a
  ``convert --state`` on the same database (which takes it exclusively per message) takes turns with them.

The split by client rests on every message of a zaak naming the same client. When one does not (a corrected BSN,
a second client in one message), two shards would write one zaak in no particular order, silently. So each zaak is
claimed by the shard that first binds a key to it or stores its state (``batch_zaak_shard``), and a message of
another shard of the same N that would write it fails with :class:`ZaakOfAnotherShard` instead: a visible failure,
not a wrong zaak. That includes a 319, which names no client and so lands in any shard, and writes the aanvraagzaak
it finds by key without binding it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.ledger.base import JsonDict, LedgerTransaction, next_tijdstip, savepoint
from gateway.ledger.keys_before_s25 import write_pg_keys

from .conn import SERVER_LOST_PEER, connect_args
from .ledger import LOCK_KEY, SCHEMA, _PgTransaction, _psycopg

CLAIMS = "CREATE TABLE IF NOT EXISTS batch_zaak_shard (zaak TEXT PRIMARY KEY, shard TEXT NOT NULL)"
"""Which shard (``I/N``) writes each zaak, for the zaken shards have written."""


class ZaakOfAnotherShard(Exception):
    """A message would write a zaak that another shard of the same run owns (see the module doc)."""

NEXT_TIJDSTIP = (
    "INSERT INTO zender_tijdstip AS z (zender, tijdstip) VALUES (%s, %s) ON CONFLICT (zender) DO UPDATE SET "
    "tijdstip = CASE WHEN excluded.tijdstip > z.tijdstip THEN excluded.tijdstip ELSE to_char(to_timestamp("
    "z.tijdstip, 'YYYYMMDDHH24MISSMS') + interval '1 millisecond', 'YYYYMMDDHH24MISSMS') END RETURNING tijdstip"
)
"""``next_tijdstip`` (ledger/base.py) as one statement: ``now``, or one millisecond past the last one when that is
not earlier. The row is locked for this statement only. The session runs in UTC, so no DST hour is ambiguous."""


class _ChunkTransaction(_PgTransaction):
    """The chunk's reads and writes on its connection; tijdstipBericht from the shared counter instead."""

    def __init__(self, cur: Any, counter: Any, shard: tuple[int, int] | None) -> None:
        super().__init__(cur)
        self.counter = counter
        self.shard = f"{shard[0]}/{shard[1]}" if shard and shard[1] > 1 else None
        self.mine: set[str] = set()
        """Zaken whose claim this shard has committed: no statement for them again."""
        self.pending: set[str] = set()
        """Claimed in the chunk in hand (moved to :attr:`mine` on commit, dropped on rollback)."""

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        row = self.counter.execute(NEXT_TIJDSTIP, (zender, next_tijdstip(None, now))).fetchone()
        return str(row[0])

    def bind(self, key: str, zaak: str) -> None:
        if self.shard is not None and zaak not in self.mine and zaak not in self.pending:
            self._claim(zaak)
        super().bind(key, zaak)

    def put_state(self, zaak: str, state: JsonDict) -> None:
        """Claimed like :meth:`bind`: a message may write a zaak it found without binding it (a 319 closing the
        aanvraagzaak its 315 made, a toewijzing answering an aanvraag), and that zaak may be another shard's."""
        if self.shard is not None and zaak not in self.mine and zaak not in self.pending:
            self._claim(zaak)
        super().put_state(zaak, state)

    def _claim(self, zaak: str) -> None:
        """Claim ``zaak`` for this shard, or raise when another shard of the same N holds it."""
        assert self.shard is not None
        self.cur.execute("INSERT INTO batch_zaak_shard (zaak, shard) VALUES (%s, %s) ON CONFLICT (zaak) DO NOTHING",
                         (zaak, self.shard))
        if self.cur.rowcount == 0:
            owner = str(self._one("SELECT shard FROM batch_zaak_shard WHERE zaak = %s", (zaak,))[0])
            if owner != self.shard and owner.split("/")[1] == self.shard.split("/")[1]:
                raise ZaakOfAnotherShard(
                    f"zaak {zaak} is written by shard {owner} (the shard of the client its first message named), "
                    f"and this message belongs to shard {self.shard}: its messages name different clients (or "
                    "none, as a 319 does), so their order is not kept across shards; convert this history without "
                    "--shard")
        self.pending.add(zaak)


class ChunkedPgLedger:
    """The ledger tables at ``url`` for one batch process: :meth:`begin` / :meth:`commit` a chunk, a SAVEPOINT
    per message (:meth:`transaction`), :attr:`direct` for single statements inside the chunk."""

    def __init__(self, url: str, shard: tuple[int, int] | None = None, connect_timeout: int = 10) -> None:
        psycopg = _psycopg()
        try:
            self._conn = psycopg.connect(url, connect_timeout=connect_timeout,
                                         **connect_args(url, SERVER_LOST_PEER))  # a silent peer: ~1 min, not 2 h
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot reach the ledger database: {str(exc).splitlines()[0]}") from None
        try:
            self._counter = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout,
                                            **connect_args(url, SERVER_LOST_PEER))
        except BaseException:
            self._conn.close()
            raise
        self._counter.execute("SET TIME ZONE 'UTC'")
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))  # two first runs: one creates
            for statement in (*SCHEMA, CLAIMS):
                cur.execute(statement)
            write_pg_keys(cur)  # a ledger an earlier release wrote: the keys it lacks, once
        self._conn.commit()
        self._cur = self._conn.cursor()
        self._tx = _ChunkTransaction(self._cur, self._counter, shard)

    @property
    def direct(self) -> LedgerTransaction:
        """The tables inside the chunk's transaction, no SAVEPOINT: for one read or one write at a time."""
        return self._tx

    def begin(self) -> None:
        """Start a chunk's transaction (psycopg opens it with the first statement)."""
        self._cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (LOCK_KEY,))

    def commit(self) -> None:
        self._conn.commit()
        self._tx.mine |= self._tx.pending
        self._tx.pending.clear()

    def rollback(self) -> None:
        self._conn.rollback()
        self._tx.pending.clear()

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """One message inside the chunk: rolled back to its SAVEPOINT (its claims too) when rendering it fails."""
        before = set(self._tx.pending)
        try:
            with savepoint(self._cur.execute, self._tx) as tx:
                yield tx
        except BaseException:
            self._tx.pending = before
            raise

    def forget(self, kind: str, low: str, high: str) -> None:
        """Delete the ``remembered`` values of ``kind`` keyed from ``low`` up to (not including) ``high``."""
        self._cur.execute('DELETE FROM remembered WHERE kind = %s AND key >= %s COLLATE "C" AND key < %s COLLATE "C"',
                          (kind, low, high))  # byte order, as in SQLite: a locale's collation may skip the '|'
        self._conn.commit()

    def recall_range(self, kind: str, low: str, high: str) -> list[tuple[str, str]]:
        """The (key, value) of ``kind`` remembered keyed from ``low`` up to (not including) ``high``, in key order."""
        self._cur.execute('SELECT key, value FROM remembered WHERE kind = %s AND key >= %s COLLATE "C" AND key < %s '
                          'COLLATE "C" ORDER BY key COLLATE "C"', (kind, low, high))
        return [(str(key), str(value)) for key, value in self._cur.fetchall()]

    def first(self, kind: str, value: str) -> str:
        """Store ``value`` under (``kind``, ``''``) unless a value is there; the one there now. A shard inserting
        beside another's uncommitted row waits for it, then reads it (READ COMMITTED: a new snapshot a statement)."""
        self._cur.execute("INSERT INTO remembered (kind, key, value) VALUES (%s, '', %s) ON CONFLICT (kind, key) "
                          "DO NOTHING", (kind, value))
        self._cur.execute("SELECT value FROM remembered WHERE kind = %s AND key = ''", (kind,))
        return str(self._cur.fetchone()[0])

    def close(self) -> None:
        self._counter.close()
        self._conn.close()


def masked(url: str) -> str:
    """A database URL as it may be shown or written to a journal: without its password."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
