"""A ledger whose writes are committed by someone else: the sidecar's, kept in the outbox database.

The sidecar may acknowledge a message only once its outputs are durable, and the ledger must never get
ahead of what was stored: if the ledger committed first and the process died before the outbox commit,
the sender's resend would be rendered against a state the receiver never got ("no change", nothing
delivered: the message lost). So the ledger tables live in the outbox database and a message's ledger
writes go into the same committer transaction (the same SAVEPOINT) as its outbox rows: both or neither.

Between rendering and that commit the writes are *staged*: each transaction collects a :class:`WriteSet`,
and later transactions read through the write sets still in flight (newest first) before the database, so
the next message of a zaak is rendered against the state the previous one will leave. When a write set's
commit fails it is simply dropped from the stack: later reads fall back to what is committed, and no undo
is needed. (A later message that was rendered against the dropped state in that short window keeps its own
outputs; its writes are whole values, so the ledger stays what the outbox says was sent.)

Another process may write the ledger meanwhile (``outbox import-ledger``): it moves the ledger's epoch
(gateway/ledger/epoch.py). :attr:`StagedLedger.epoch` is the one renders run under; a commit that finds another
one fails, and :meth:`StagedLedger.refresh` then drops every write set in flight before the message is rendered
again: they were all rendered from the state the import replaced, and their commits fail the same way.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import epoch
from .base import FreshStateTransaction, JsonDict, LedgerTransaction, next_tijdstip, savepoint
from .sqlite import SCHEMA
from .statetext import dump_state, load_state


@dataclass(slots=True)
class WriteSet:
    """The ledger writes of one message, to be applied in the transaction that stores its outputs."""

    keys: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    """Zaak states as the JSON text the database stores (sorted keys): serialised once, when put, instead of
    copied through a JSON round trip then and serialised again by :func:`apply`."""
    tijdstip: dict[str, str] = field(default_factory=dict)
    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys or self.states or self.tijdstip or self.values)


def create_tables(conn: sqlite3.Connection) -> None:
    """The ledger tables (the same as ``SqliteLedger``'s) in the database of ``conn``."""
    conn.executescript(SCHEMA)


def apply(conn: sqlite3.Connection, writes: WriteSet) -> None:
    """Write a staged write set through ``conn``, inside the caller's transaction: one statement a table (the
    sidecar's write set of one message, the batch's of a whole chunk)."""
    many = conn.executemany
    if writes.keys:
        many("INSERT INTO chain_key (key, zaak) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET zaak = excluded.zaak",
             writes.keys.items())
    if writes.states:
        now = dt.datetime.now(dt.UTC).isoformat()
        many("INSERT INTO zaak_state (zaak, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(zaak) "
             "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
             [(zaak, state, now) for zaak, state in writes.states.items()])
    if writes.tijdstip:  # never backwards, whatever order commits land in
        many("INSERT INTO zender_tijdstip (zender, tijdstip) VALUES (?, ?) ON CONFLICT(zender) "
             "DO UPDATE SET tijdstip = max(tijdstip, excluded.tijdstip)", writes.tijdstip.items())
    if writes.values:
        many("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?) ON CONFLICT(kind, key) "
             "DO UPDATE SET value = excluded.value", [(kind, key, v) for (kind, key), v in writes.values.items()])


class Staging(Protocol):
    """What a :class:`StagedTransaction` reads through: staged writes not yet in the database, then the database
    (the sidecar's write sets in flight, :class:`StagedLedger`; the batch's chunk, ``batch.chunkledger``)."""

    def staged(self, table: str, key: Any) -> Any: ...

    def read(self, sql: str, args: tuple[str, ...]) -> tuple[str, ...] | None: ...


class StagedTransaction:
    """Reads: this message's own writes, then the newest write set in flight that holds the key, then the database."""

    def __init__(self, ledger: Staging, writes: WriteSet) -> None:
        self.ledger = ledger
        self.writes = writes

    def zaak_for(self, keys: list[str]) -> str | None:
        for key in keys:
            found = self.writes.keys.get(key)
            if found is None:
                found = self.ledger.staged("keys", key)
            if found is None:
                row = self.ledger.read("SELECT zaak FROM chain_key WHERE key = ?", (key,))
                found = str(row[0]) if row is not None else None
            if found is not None:
                return found
        return None

    def bind(self, key: str, zaak: str) -> None:
        self.writes.keys[key] = zaak

    def state(self, zaak: str) -> JsonDict | None:
        text = self.writes.states.get(zaak)
        if text is None:
            text = self.ledger.staged("states", zaak)
        if text is None:
            row = self.ledger.read("SELECT state FROM zaak_state WHERE zaak = ?", (zaak,))
            text = row[0] if row is not None else None
        return load_state(text) if text is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.writes.states[zaak] = dump_state(state)  # a copy the caller cannot change

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        last = self.writes.tijdstip.get(zender)
        if last is None:
            last = self.ledger.staged("tijdstip", zender)
        if last is None:
            row = self.ledger.read("SELECT tijdstip FROM zender_tijdstip WHERE zender = ?", (zender,))
            last = str(row[0]) if row is not None else None
        value = next_tijdstip(last, now)
        self.writes.tijdstip[zender] = value
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.writes.values[(kind, key)] = value

    def recall(self, kind: str, key: str) -> str | None:
        found = self.writes.values.get((kind, key))
        if found is None:
            found = self.ledger.staged("values", (kind, key))
        if found is not None:
            return found
        row = self.ledger.read("SELECT value FROM remembered WHERE kind = ? AND key = ?", (kind, key))
        return str(row[0]) if row is not None else None


_TABLES = ("keys", "states", "tijdstip", "values")
"""The :class:`WriteSet` fields, each indexed over the write sets in flight."""


class StagedLedger:
    """A ledger over the tables in ``path`` whose transactions stage their writes (see the module doc).

    ``transaction()`` yields a transaction; when the block ends without error its write set joins the
    in-flight stack and becomes :attr:`last`. The caller stores it with :func:`apply` in its own
    transaction and then calls :meth:`settle` (committed or not): reads then come from the database.
    One render at a time (the caller serialises); reads and settling may come from different threads.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        create_tables(self._conn)
        self.epoch = epoch.current(self._conn)
        """The ledger's epoch the renders run under; a commit checks it is still the ledger's."""
        self._lock = threading.Lock()
        self._flight: dict[int, WriteSet] = {}
        """The write sets in flight by ``id``, oldest first."""
        self._holders: dict[str, dict[Any, list[WriteSet]]] = {table: {} for table in _TABLES}
        """Per table and key, the write sets in flight that hold it, oldest first: a read looks at the last one
        instead of scanning every write set waiting for its commit (the queue is ~concurrency deep)."""
        self.last: WriteSet | None = None

    def read(self, sql: str, args: tuple[str, ...]) -> tuple[str, ...] | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()  # type: ignore[no-any-return]

    def staged(self, table: str, key: Any) -> Any:
        """The value of ``key`` in the newest write set in flight that holds it, or None (then the database)."""
        with self._lock:
            holders = self._holders[table].get(key)
            return getattr(holders[-1], table)[key] if holders else None

    def refresh(self) -> bool:
        """Take the ledger's epoch as it is now; when it moved, forget every write set in flight (rendered under the
        old one, their commits fail) so that renders read what the ledger holds. Call it between renders; True
        when it moved."""
        with self._lock:
            now = epoch.current(self._conn)
            if now == self.epoch:
                return False
            self.epoch = now
            self._forget()
            return True

    def forget_in_flight(self) -> None:
        """Forget every write set in flight, so that renders read what the database holds: for a caller that wrote
        the ledger tables itself after all of them were committed (``POST /admin/reconvert``, under the render
        lock); a later :meth:`settle` of one of them finds it gone."""
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._flight.clear()
        for holders in self._holders.values():
            holders.clear()

    def in_flight(self) -> list[WriteSet]:
        with self._lock:
            return list(self._flight.values())

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        writes = WriteSet()
        self.last = None
        yield StagedTransaction(self, writes)
        if writes:  # an empty one has nothing to read, and a caller may settle a fresh WriteSet in its place
            with self._lock:
                self._flight[id(writes)] = writes
                for table in _TABLES:
                    holders = self._holders[table]
                    for key in getattr(writes, table):
                        holders.setdefault(key, []).append(writes)
        self.last = writes

    def settle(self, writes: WriteSet) -> None:
        """The write set was committed with its outputs, or its commit failed: either way it leaves the stack."""
        with self._lock:
            if self._flight.pop(id(writes), None) is None:
                return
            for table in _TABLES:
                holders = self._holders[table]
                for key in getattr(writes, table):
                    stack = holders[key]
                    if len(stack) == 1:
                        del holders[key]
                    else:  # commits settle oldest first, so the write set is nearly always at the bottom
                        stack.pop(next(i for i, ws in enumerate(stack) if ws is writes))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class ThrowawayLedger:
    """A ledger that forgets each message: every message is rendered as if the receiver held nothing.

    For conversions whose canonical outputs reach no receiver (a passthrough route converts only to learn
    facts and order keys) and for worker processes that only map: a MemoryLedger there would grow with
    every message and copy itself on each one.
    """

    def transaction(self) -> AbstractContextManager[LedgerTransaction]:
        """A fresh memory ledger's transaction that stores states without copying them (it ends with them)."""
        return FreshStateTransaction()

    def close(self) -> None:
        pass


class ConnLedger:
    """The ledger tables reached through a connection someone else holds a transaction on (``overstap outbox
    replay --quarantined`` writes the outbox and the ledger in its one transaction). Each ledger transaction
    is a SAVEPOINT, rolled back on error; :attr:`direct` reaches the same tables without one, for a single
    statement that has nothing of its own to roll back (two SAVEPOINT/RELEASE pairs a message in the batch)."""

    def __init__(self, conn: sqlite3.Connection, *, create: bool = True) -> None:
        """``create``: make the (SQLite) tables first, for a ``--state`` file; an outbox store has them from its
        schema (gateway/schema), on PostgreSQL too, where this SQLite DDL must not run."""
        from .sqlite import _SqliteTransaction

        if create:
            create_tables(conn)
        self._conn = conn
        self._tx = _SqliteTransaction(conn)

    @property
    def direct(self) -> LedgerTransaction:
        """The tables within the caller's own transaction, no SAVEPOINT: for one read or one write at a time."""
        return self._tx

    def transaction(self) -> AbstractContextManager[LedgerTransaction]:
        return savepoint(self._conn.execute, self._tx)

    def close(self) -> None:
        pass
