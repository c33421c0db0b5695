"""The zaak ledger in one SQLite file (WAL, synchronous=FULL): what ``convert --state DIR`` and later runs share.

Each transaction is ``BEGIN IMMEDIATE``, so two processes using the same state dir take turns instead of
both reading the same last tijdstipBericht or zaak state; it commits at the end of the ``with`` block and
rolls back when the block raises.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import JsonDict, LedgerTransaction, next_tijdstip
from .keys_before_s25 import write_folder_keys
from .statetext import dump_state, load_state

DB_NAME = "ledger.sqlite"
DEFAULT_STATE = "./overstap-state"
"""The state folder of ``convert`` and ``batch`` unless ``--state`` says otherwise (docs/canonical-spec.md 7)."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS chain_key (key TEXT PRIMARY KEY, zaak TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zaak_state (zaak TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS zender_tijdstip (zender TEXT PRIMARY KEY, tijdstip TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS remembered (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                       PRIMARY KEY (kind, key));
"""


class _SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def zaak_for(self, keys: list[str]) -> str | None:
        for key in keys:
            row = self.conn.execute("SELECT zaak FROM chain_key WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
        return None

    def bind(self, key: str, zaak: str) -> None:
        self.conn.execute("INSERT INTO chain_key (key, zaak) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET "
                          "zaak = excluded.zaak", (key, zaak))

    def state(self, zaak: str) -> JsonDict | None:
        row = self.conn.execute("SELECT state FROM zaak_state WHERE zaak = ?", (zaak,)).fetchone()
        return load_state(row[0]) if row is not None else None

    def put_state(self, zaak: str, state: JsonDict) -> None:
        self.conn.execute("INSERT INTO zaak_state (zaak, state, updated_at) VALUES (?, ?, ?) ON CONFLICT(zaak) "
                          "DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                          (zaak, dump_state(state), dt.datetime.now(dt.UTC).isoformat()))

    def tijdstip(self, zender: str, now: dt.datetime) -> str:
        row = self.conn.execute("SELECT tijdstip FROM zender_tijdstip WHERE zender = ?", (zender,)).fetchone()
        value = next_tijdstip(row[0] if row is not None else None, now)
        self.conn.execute("INSERT INTO zender_tijdstip (zender, tijdstip) VALUES (?, ?) ON CONFLICT(zender) "
                          "DO UPDATE SET tijdstip = excluded.tijdstip", (zender, value))
        return value

    def remember(self, kind: str, key: str, value: str) -> None:
        self.conn.execute("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?) ON CONFLICT(kind, key) "
                          "DO UPDATE SET value = excluded.value", (kind, key, value))

    def recall(self, kind: str, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM remembered WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return str(row[0]) if row is not None else None


def open_failure(state: str, exc: BaseException) -> str:
    """Why ``--state`` could not be opened as a ledger folder, as ``convert`` and ``batch`` both say it: a file where
    the folder goes is named so (``mkdir`` says only "File exists"), so is a FIFO, socket or device, else the
    system's or SQLite's reason."""
    if Path(state).is_file():
        return "it is a file, not a folder"
    if Path(state).exists() and not Path(state).is_dir():
        return "it is a FIFO, socket or device, not a folder"
    return str(getattr(exc, "strerror", None) or exc)


class SqliteLedger:
    """A ledger in ``state_dir/ledger.sqlite``; one connection, used by one thread at a time."""

    def __init__(self, state_dir: str | Path, timeout: float = 30.0) -> None:
        self.path = Path(state_dir) / DB_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(SCHEMA)
        write_folder_keys(self._conn)  # a ledger an earlier release wrote: the keys it lacks, once
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()
