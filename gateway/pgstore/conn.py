"""A PostgreSQL connection that speaks the small SQL dialect the outbox functions are written in.

The outbox (gateway/deliver/outbox.py), the group committer and the ledger tables are plain functions over
a connection with ``execute(sql, params)``, ``?`` placeholders and rows readable by index and by column
name (``sqlite3.Row``). :class:`PgConnection` offers exactly that over psycopg 3, so one set of functions
serves both backends instead of two copies drifting apart. It translates what differs:

* ``?`` becomes ``%s`` (and a literal ``%`` is doubled), once per distinct statement;
* ``BEGIN IMMEDIATE`` — SQLite's "begin and take the write lock now" — becomes ``BEGIN`` followed by one
  transaction-scoped advisory lock, so writers on one database (several sidecar replicas) take turns the
  same way and the lock ends with COMMIT, ROLLBACK or a dead client; the wait for it is bounded, and a client
  that goes silent while holding it loses its session (:data:`WRITER_BOUNDS`), so one lost replica cannot
  stop the others;
* ``PRAGMA`` statements (SQLite tuning) are no-ops;
* jsonb columns are read as their JSON text, as SQLite returns them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

WRITE_LOCK = 0x4F56_5354  # "OVST": the same key PostgresLedger takes, so the convert CLI and sidecars take turns
_PLACEHOLDER = re.compile(r"\?")

LOST_PEER = {"keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3",
             "tcp_user_timeout": "60000"}
"""libpq settings that end a connection whose server went silent (a lost machine, a network partition: no FIN, no
RST) in about a minute instead of the kernel's 2 h 11 min: keepalive probes after 30 s idle, 3 unanswered 10 s
apart; data unacknowledged for 60 s. A busy network acknowledges in milliseconds; the probes are a few bytes."""
SERVER_LOST_PEER = "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 " \
                   "-c tcp_user_timeout=60000"
"""The same bounds on the server's side of the connection, so the server ends a silent client's session (and
with it the locks it holds) within a minute, not after its own 2 h keepalive."""
WRITER_BOUNDS = "-c idle_in_transaction_session_timeout=15s -c lock_timeout=30s"
"""The sidecar's bounds on a writer that holds or waits for the store's write lock.

* ``idle_in_transaction_session_timeout=15s``: a session that holds a transaction (and the write lock) open without
  sending its next statement for 15 s is ended by the server, so a replica whose network went silent cannot stop
  the others for longer. The gaps inside a sidecar's transaction are a render of one message between two
  statements (milliseconds; seconds for a message of several MB), far below that.
* ``lock_timeout=30s``: a writer waits at most 30 s for the write lock (or a row lock); then its batch is refused
  as a store failure (StUF046, ``Retry-After``) instead of hanging. Longer than the idle bound, so a writer that
  waits behind a silent replica gets the lock when the server ends that session; a busy moment (replicas taking
  turns with group commits of milliseconds each) waits far less.

Both are session settings, and any of them can be set in the store's URL (``?options=-c%20lock_timeout%3D60s``,
``&keepalives_idle=60``): the URL's own values win over these."""


def connect_args(url: str, options: str) -> dict[str, str]:
    """Keyword arguments for ``psycopg.connect(url, ...)``: :data:`LOST_PEER` and ``options`` as defaults that the
    URL's own parameters override (its ``options`` come after ours: a later ``-c`` wins)."""
    from psycopg.conninfo import conninfo_to_dict

    given = conninfo_to_dict(url)
    args = {key: value for key, value in LOST_PEER.items() if key not in given}
    own = str(given.get("options") or "").strip()
    args["options"] = f"{options} {own}" if own else options
    return args


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
                                         **connect_args(url, f"-c TimeZone=UTC {SERVER_LOST_PEER} {WRITER_BOUNDS}"))
            # UTC: next_tijdstip below has no DST hour
        except psycopg.OperationalError as exc:
            raise RuntimeError(f"cannot reach the store database: {describe_url(url)}: "
                               f"{str(exc).strip().splitlines()[0] if str(exc).strip() else 'no answer'}") from None
        except psycopg.ProgrammingError:  # the URL itself: psycopg quotes the part it could not read, a password too
            raise RuntimeError(f"the store URL cannot be read ({describe_url(url)}): write postgresql://user:password@"
                               "host:port/database?parameter=value, with spaces and special characters "
                               "percent-encoded (%20)") from None
        self._conn.adapters.register_loader("jsonb", TextLoader)
        self._conn.adapters.register_loader("json", TextLoader)
        self._sql: dict[str, str] = {}
        self._at_commit: set[str] = set()
        """Channels to NOTIFY at the COMMIT of the transaction under way (:meth:`notify_at_commit`)."""

    def notify_at_commit(self, channel: str) -> None:
        """NOTIFY ``channel`` at this transaction's COMMIT, once however often asked: sent with the COMMIT in one
        round trip (no statement of its own), dropped by a ROLLBACK. A write rolled back to its savepoint leaves it
        asked: one notification too many, which costs its listeners a look, never one too few."""
        self._at_commit.add(channel)

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
        if self._at_commit and head.rstrip() in ("COMMIT", "ROLLBACK"):
            channels, self._at_commit = sorted(self._at_commit), set()
            if head.rstrip() == "COMMIT":
                return self._conn.execute("".join(f"NOTIFY {c}; " for c in channels) + "COMMIT")
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
