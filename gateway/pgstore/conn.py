"""A PostgreSQL connection that speaks the small SQL dialect the outbox functions are written in.

The outbox (gateway/deliver/outbox.py), the group committer and the ledger tables are plain functions over
a connection with ``execute(sql, params)``, ``?`` placeholders and rows readable by index and by column
name (``sqlite3.Row``). :class:`PgConnection` offers exactly that over psycopg 3, so one set of functions
serves both backends instead of two copies drifting apart. It translates what differs:

* ``?`` becomes ``%s`` (and a literal ``%`` is doubled), once per distinct statement;
* ``BEGIN IMMEDIATE`` — SQLite's "begin and take the write lock now" — becomes ``BEGIN`` followed by one
  transaction-scoped advisory lock, so writers on one database (several sidecar replicas) take turns the
  same way and the lock ends with COMMIT, ROLLBACK or a dead client;
* ``PRAGMA`` statements (SQLite tuning) are no-ops;
* jsonb columns are read as their JSON text, as SQLite returns them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

WRITE_LOCK = 0x4F56_5354  # "OVST": the same key PostgresLedger takes, so the convert CLI and sidecars take turns
_PLACEHOLDER = re.compile(r"\?")


def psycopg_module() -> Any:
    """psycopg 3, or a clear error naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeError("a postgresql:// store needs psycopg: pip install 'overstap[postgresql]'") from None
    return psycopg


class Row(tuple):  # type: ignore[type-arg]
    """A result row readable as ``row[0]`` and ``row["column"]``, like ``sqlite3.Row``."""

    __slots__ = ()
    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description
    if description is None:
        return tuple
    names = {column.name: i for i, column in enumerate(description)}
    row_type = type("Row", (Row,), {"__slots__": (), "_names": names})
    return lambda values: row_type(values)


class PgConnection:
    """One psycopg connection in autocommit mode; transactions are the explicit BEGIN/COMMIT of the callers."""

    def __init__(self, url: str, *, connect_timeout: int = 10, application_name: str = "overstap") -> None:
        psycopg = psycopg_module()
        from psycopg.types.string import TextLoader

        self.url = url
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout,
                                         application_name=application_name, row_factory=_row_factory,
                                         options="-c TimeZone=UTC")  # next_tijdstip below: no DST hour
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot reach the store database: {describe_url(url)}: "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}") from None
        self._conn.adapters.register_loader("jsonb", TextLoader)
        self._conn.adapters.register_loader("json", TextLoader)
        self._sql: dict[str, str] = {}

    def _translate(self, sql: str) -> str:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
        return found

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement; ``?`` placeholders as in SQLite."""
        head = sql.lstrip()[:16].upper()
        if head.startswith("PRAGMA"):
            return self._conn.execute("SELECT 1 WHERE false")
        if head.startswith("BEGIN IMMEDIATE"):
            self._conn.execute("BEGIN")
            return self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        if params is None or len(params) == 0:
            return self._conn.execute(sql)
        return self._conn.execute(self._translate(sql), tuple(params))

    def executescript(self, script: str) -> None:
        """Several statements without parameters, as one round trip."""
        self._conn.execute(script)

    @property
    def raw(self) -> Any:
        """The psycopg connection (session-level advisory locks, LISTEN)."""
        return self._conn

    @property
    def closed(self) -> bool:
        return bool(self._conn.closed)

    def close(self) -> None:
        self._conn.close()


def next_tijdstip(conn: PgConnection, zender: str, now: str) -> str:
    """A tijdstipBericht for ``zender`` from the one atomic statement batch shards use (gateway/pgstore/chunked.py):
    ``now``, or one millisecond past the stored one. Run in the caller's transaction it locks the zender's row
    until COMMIT, so whoever takes the next value — another replica, a batch shard on the same database — waits
    and continues after this one: never the same value twice. (A read, then a write, would let a shard's
    counter slip in between.)"""
    from .chunked import NEXT_TIJDSTIP

    return str(conn.raw.execute(NEXT_TIJDSTIP, (zender, now)).fetchone()[0])


def describe_url(url: str) -> str:
    """A database URL fit for a log line or an error: host, port and database, never a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or "local socket"
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{host}{port}{parts.path or '/'}"
    except ValueError:
        return "postgresql://(unparseable URL)"
