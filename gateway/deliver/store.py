"""Where the sidecar keeps its outbox and zaak ledger: a SQLite file in the data dir, or a PostgreSQL database.

SQLite is the embedded default: one sidecar, one file, nothing to run. PostgreSQL (``store: postgresql://…``)
is for several replicas behind one address (issue 16): they share the outbox, the dedup keys, the dead
letters and the ledger, take turns writing (``BEGIN IMMEDIATE`` is an advisory lock there, see
gateway/pgstore/conn.py) and split the delivery of zaken between them (gateway/deliver/claims.py). The outbox
functions are the same for both: a store only says how to connect and whether others share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.pgstore import is_url
from gateway.pgstore.conn import PgConnection, describe_url
from gateway.pgstore.schema import LEDGER, OUTBOX

from . import outbox


@dataclass(frozen=True)
class SqliteStore:
    """The outbox file in the data dir (WAL, synchronous=FULL); one sidecar process owns it."""

    path: Path
    shared = False

    def connect(self) -> Any:
        return outbox.connect(self.path)

    def describe(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class PostgresStore:
    """A PostgreSQL database that several sidecar replicas (and ``overstap outbox``) share."""

    url: str
    shared = True

    def connect(self) -> Any:
        return PgConnection(self.url, application_name="overstap-sidecar")

    def describe(self) -> str:
        return describe_url(self.url)


Store = SqliteStore | PostgresStore


def open_store(data_dir: str | Path, url: str | None = None) -> Store:
    """The store named by ``url`` (a postgresql:// URL) or else the SQLite file in ``data_dir``; its tables
    are created (or brought up to date) on the way."""
    if url:
        if not is_url(url):
            raise ValueError(f"store must be a postgresql:// URL (or left out for SQLite in the data dir), "
                             f"not {url.split(':', 1)[0]!r}")
        store = PostgresStore(url)
        conn = store.connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # two replicas starting together: one creates, the other waits
            conn.executescript(OUTBOX + LEDGER)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return store
    return SqliteStore(outbox.open_db(data_dir))
