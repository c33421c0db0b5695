"""Where the sidecar keeps its outbox and zaak ledger: a SQLite file in the data dir, or a PostgreSQL database.

SQLite is the embedded default: one sidecar, one file, nothing to run. PostgreSQL (``store: postgresql://…``)
is for several replicas behind one address (issue 16): they share the outbox, the dedup keys, the dead
letters and the ledger, take turns writing (``BEGIN IMMEDIATE`` is an advisory lock there, see
gateway/pgstore/conn.py) and split the delivery of zaken between them (gateway/deliver/claims.py). The outbox
functions are the same for both: a store only says how to connect and whether others share it. Both get
their tables from the same revisions (gateway/schema), brought to head when the store is opened.
"""

from __future__ import annotations

import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway import schema
from gateway.pgstore import is_url
from gateway.pgstore.conn import WRITE_LOCK, PgConnection, describe_url

from . import outbox, readonly

if TYPE_CHECKING:
    from gateway.schema.run import Upgraded


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


def store_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is the store failing rather than the message: any database error (lost connection, lock
    bound, read-only, disk full, a session ended by the server, the schema out of shape) except a value the
    database refuses (DataError). Such a message is refused 503 and offered again, never kept as a conversion
    failure: nothing is wrong with it, and a later try on a healthy store converts it."""
    if isinstance(exc, sqlite3.Error):
        return not isinstance(exc, sqlite3.DataError)
    psycopg = sys.modules.get("psycopg")  # a SQLite sidecar never imports it
    return psycopg is not None and isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.DataError)


def failure_name(exc: BaseException) -> str:
    """A database error as a log line may show it: its class and SQLSTATE (or SQLite's error name), never the
    driver's message, which can quote the data (a jsonb error quotes the zaak state)."""
    code = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    return f"{type(exc).__name__} ({code})" if code else type(exc).__name__


def locate(data_dir: str | Path, url: str | None = None) -> Store:
    """The store named by ``url`` (a postgresql:// URL) or else the SQLite file in ``data_dir``, untouched."""
    if url:
        if not is_url(url):
            raise ValueError(f"store must be a postgresql:// URL (or left out for SQLite in the data dir), "
                             f"not {url.split(':', 1)[0]!r}")
        return PostgresStore(url)
    return SqliteStore(Path(data_dir) / outbox.DB_NAME)


def open_store(data_dir: str | Path, url: str | None = None) -> Store:
    """The store named by ``url`` or ``data_dir`` (see :func:`locate`), schema at head (:func:`ready`)."""
    return ready(locate(data_dir, url))


def ready(store: Store) -> Store:
    """The store with its schema at head: migrated on the way when it is new or behind, one small query when
    it is not (the sidecar and ``overstap outbox`` open stores often; Alembic costs far more)."""
    if isinstance(store, SqliteStore):
        try:
            outbox.open_db(store.path.parent)
        except sqlite3.OperationalError:
            raise  # locked, read-only, out of disk: the store's own words
        except sqlite3.DatabaseError as exc:  # junk or a damaged file where the outbox should be
            raise RuntimeError(f"{store.path}: not an outbox: SQLite says {exc}") from None
        return store
    if schema.behind_at(store.connect):
        migrate(store)
    return store


class NotAnOutbox(RuntimeError):
    """No outbox where ``overstap outbox`` looked, or a database there that is not one: refused, nothing written."""


def no_outbox(folder: Path) -> str:
    """The refusal of a data folder without an outbox (a typo in --data-dir made a new one before)."""
    return (f"no outbox in {folder} (expected {folder / outbox.DB_NAME}): point at the sidecar's data folder with "
            "--data-dir (its data_dir; or --config with its config file), or at its PostgreSQL store with --store; "
            f"to make a new outbox there on purpose, run `overstap store migrate --data-dir {folder}`")


def _outbox_revision(conn: sqlite3.Connection, path: Path) -> str:
    """The revision of the SQLite outbox ``conn`` (recorded, or what an outbox from before migrations is at);
    NotAnOutbox for another program's database, SchemaError for a newer release's outbox."""
    revision = schema.known(schema.recorded(conn)) or schema.unversioned_revision(conn)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if revision is None or not {"message", "delivery"} <= tables:
        raise NotAnOutbox(f"{path}: not an Overstap outbox (it has no outbox tables: another program's database?); "
                          "nothing was changed")
    return revision


def existing(store: Store, *, at_head: bool = False) -> Store:
    """``store`` when it is an outbox already, looked at without changing anything (a SQLite file read-only);
    :class:`NotAnOutbox` when the folder has none or the file is another database (``outbox`` commands made an
    outbox there, or added its tables to whatever database was at that path). ``at_head``: refuse an older
    release's outbox too (a read command must not migrate it). The sidecar's own start makes and migrates its
    store (:func:`ready`)."""
    if isinstance(store, PostgresStore):
        if at_head:
            recorded = schema.known(schema.recorded_at(store.connect))
            if recorded != schema.HEAD:
                found = ("no Overstap store here (no schema revision recorded)" if recorded is None
                         else f"an outbox at schema revision {recorded}, behind this release's {schema.HEAD}")
                raise NotAnOutbox(f"{store.describe()}: {found}; run `overstap store migrate --store URL` first (or "
                                  "start a replica); nothing was changed")
        return store
    if not store.path.is_file():
        raise NotAnOutbox(no_outbox(store.path.parent))
    try:
        conn = outbox.connect_read_only(store.path)
    except sqlite3.OperationalError as exc:
        raise RuntimeError(readonly.unreadable(store.path, exc)) from None
    try:
        revision = _outbox_revision(conn, store.path)
    except sqlite3.OperationalError as exc:  # the file or its folder not readable, or not writable for its -shm
        raise RuntimeError(readonly.unreadable(store.path, exc)) from None
    except sqlite3.DatabaseError as exc:  # junk, or a damaged file
        raise RuntimeError(f"{store.path}: not an outbox: SQLite says {exc}") from None
    finally:
        conn.close()
    if at_head and revision != schema.HEAD:
        raise NotAnOutbox(f"{store.path}: an outbox of an older release (schema revision {revision}, this one reads "
                          f"{schema.HEAD}); run `overstap store migrate --data-dir {store.path.parent}` first (or "
                          "start the sidecar); nothing was changed")
    return store


def read_only(store: Store) -> Any:
    """A connection to an existing outbox at head that changes nothing: read-only on SQLite, no migration on
    PostgreSQL (:func:`existing`); for ``outbox list``, ``show`` and ``shadow report``."""
    existing(store, at_head=True)
    if isinstance(store, SqliteStore):
        return outbox.connect_read_only(store.path)
    return store.connect()


def migrate(store: Store, to: str = "head") -> Upgraded:
    """Run the store's revisions up to ``to`` (see gateway/schema/run.py); on PostgreSQL under the write lock,
    so replicas starting together migrate one after the other and writers wait for the new schema."""
    from gateway.schema.run import upgrade

    if isinstance(store, PostgresStore):
        store.connect().close()  # an unreachable database fails here with the store's own error
        return upgrade(store.url, to, lock_key=WRITE_LOCK)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    outbox.connect(store.path).close()  # WAL before the first table
    return upgrade(store.path, to)


def revision(store: Store) -> tuple[str | None, str | None]:
    """(recorded revision, revision the tables of an unversioned SQLite outbox are at); no changes made."""
    if isinstance(store, SqliteStore) and not store.path.is_file():
        return None, None
    conn = store.connect()
    try:
        recorded = schema.recorded(conn)
        if recorded is None and isinstance(store, SqliteStore):
            return None, schema.unversioned_revision(conn)
        return recorded, None
    finally:
        conn.close()
