"""The zaak ledger on PostgreSQL: the same tables and the same one-writer-at-a-time transactions as SQLite.

``SqliteLedger`` makes every transaction ``BEGIN IMMEDIATE`` so that two processes sharing a state dir take
turns instead of both reading the same last tijdstipBericht or zaak state. Here every transaction takes one
transaction-scoped advisory lock first (``pg_advisory_xact_lock``): writers on one database take turns the
same way, readers of other tables are not blocked, and the lock ends with COMMIT or ROLLBACK — also when the
client dies. psycopg 3 is needed (``pip install 'overstap[postgresql]'``).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.ledger.base import JsonDict, LedgerTransaction, next_tijdstip
from gateway.ledger.keys_before_s25 import write_pg_keys
from gateway.ledger.statetext import dump_state, load_state

from .conn import SERVER_LOST_PEER, connect_args

LOCK_KEY = 0x4F56_5354  # "OVST": the ledger's advisory lock, one per database
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS chain_key (key TEXT PRIMARY KEY, zaak TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS zaak_state (zaak TEXT PRIMARY KEY, state JSONB NOT NULL,"
    " updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS zender_tijdstip (zender TEXT PRIMARY KEY, tijdstip TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS remembered (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (kind, key))",
)


def is_url(state: str) -> bool:
    """A ``--state`` value naming a PostgreSQL database rather than a folder."""
    return state.startswith(("postgresql://", "postgres://"))


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("--state postgresql://… needs psycopg: pip install 'overstap[postgresql]'") from None
    return psycopg


class _PgTransaction:
    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def _one(self, sql: str, args: tuple[str, ...]) -> Any:
        self.cur.execute(sql, args)
        return self.cur.fetchone()

    def zaak_for(self, keys: list[str]) -> str | None:
        for key in keys:
            row = self._one("SELECT zaak FROM chain_key WHERE key = %s", (key,))
            if row is not None:
                return str(row[0])
        return None

    def bind(self, key: str, zaak: str) -> None:
        self.cur.execute("INSERT INTO chain_key (key, zaak) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET "
                         "zaak = excluded.zaak", (key, zaak))

    def state(self, zaak: str) -> JsonDict | None:
        row = self._one("SELECT state::text FROM zaak_state WHERE zaak = %s", (zaak,))
        return load_state(row[0]) if row is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.cur.execute("INSERT INTO zaak_state (zaak, state, updated_at) VALUES (%s, %s::jsonb, now()) "
                         "ON CONFLICT (zaak) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                         (zaak, dump_state(state)))

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        row = self._one("SELECT tijdstip FROM zender_tijdstip WHERE zender = %s", (zender,))
        value = next_tijdstip(row[0] if row is not None else None, now)
        self.cur.execute("INSERT INTO zender_tijdstip (zender, tijdstip) VALUES (%s, %s) ON CONFLICT (zender) "
                         "DO UPDATE SET tijdstip = excluded.tijdstip", (zender, value))
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.cur.execute("INSERT INTO remembered (kind, key, value) VALUES (%s, %s, %s) ON CONFLICT (kind, key) "
                         "DO UPDATE SET value = excluded.value", (kind, key, value))

    def recall(self, kind: str, key: str) -> str | None:
        row = self._one("SELECT value FROM remembered WHERE kind = %s AND key = %s", (kind, key))
        return str(row[0]) if row is not None else None


class PostgresLedger:
    """A ledger in the PostgreSQL database at ``url``; one connection, used by one thread at a time."""

    def __init__(self, url: str, connect_timeout: int = 10) -> None:
        psycopg = _psycopg()
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout,
                                         **connect_args(url, SERVER_LOST_PEER))  # a silent peer: ~1 min, not 2 h
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot reach the ledger database: {str(exc).splitlines()[0]}") from None
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))  # two first runs: one creates
            for statement in SCHEMA:
                cur.execute(statement)
            write_pg_keys(cur)  # a ledger an earlier release wrote: the keys it lacks, once
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """One source message's reads and writes, committed at the end, rolled back when the block raises."""
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield _PgTransaction(cur)

    def close(self) -> None:
        self._conn.close()
