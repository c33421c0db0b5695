"""Every SQL statement of the console, over the outbox and ledger tables of ``data_dir/outbox.sqlite3`` or of the
sidecar's PostgreSQL store (``store: postgresql://…``): one set of queries, the dialect spelt apart only where the
two differ (a JSON path, a table check, SQLite's ``INDEXED BY`` and ``rowid``, an hour's bucket); see :func:`is_pg`.

Lists page by keyset (``id < cursor ORDER BY id DESC LIMIT n``) on indexes the console adds when it starts
(:func:`ensure_indexes`), so a page costs the same with a million rows as with ten: no OFFSET, no count of
the whole table. A date range becomes an id range first (ids grow with ``received_at``: a message row is
written when it arrives). Reads use their own read-only connection, so they never wait for the outbox writer.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.deliver.unmapped import UnmappedInput

from .source import is_pg

log = logging.getLogger("overstap.console")

MESSAGE_STATUSES = ("accepted", "quarantined")
DELIVERY_STATUSES = ("pending", "delivered", "dead")

INDEXES = (
    "CREATE INDEX IF NOT EXISTS console_message_status ON message(status)",
    "CREATE INDEX IF NOT EXISTS console_message_route ON message(route, status)",
    "CREATE INDEX IF NOT EXISTS console_message_route_only ON message(route)",
    "CREATE INDEX IF NOT EXISTS console_message_received ON message(received_at)",
    "CREATE INDEX IF NOT EXISTS console_delivery_status ON delivery(status, message_id)",
    "CREATE INDEX IF NOT EXISTS console_delivery_counts ON delivery(route, target, status)",
    "CREATE INDEX IF NOT EXISTS console_message_mode ON message(mode, status)",
    "CREATE INDEX IF NOT EXISTS console_message_unmapped ON message(id) WHERE unmapped IS NOT NULL",
)
LEDGER_INDEXES = ("CREATE INDEX IF NOT EXISTS console_zaak_bsn ON zaak_state(json_extract(state, '$.initiator.bsn'))",)
BSN = "json_extract(state, '$.initiator.bsn')"
"""The expression of the client index: a query must spell it exactly so for SQLite to use the index."""
PG_BSN = "(state #>> '{initiator,bsn}')"
"""The same on PostgreSQL's JSONB (text, as SQLite's ``json_extract`` of a string)."""
PG_KEY = "(hashtextextended(zaak, 0) & 4611686018427387903)"
"""A zaak's number in the console's addresses on PostgreSQL, which has no ``rowid``: a 62-bit hash of its
identificatie (positive, below :data:`gateway.console.params.MAX_ROWID`), found through an index on it."""
PG_INDEXES = ("CREATE INDEX IF NOT EXISTS console_message_route_id ON message(route, id)",
              "CREATE INDEX IF NOT EXISTS console_message_status_id ON message(status, id)",
              "CREATE INDEX IF NOT EXISTS console_audit_at ON console_audit(at, id)")
"""On PostgreSQL only: SQLite's index on ``route`` (or ``status``) holds the rowid after it, so a filtered page reads
it backwards by id; PostgreSQL's needs the id spelt out, or it sorts every row of the route (170 ms at 100,000).
The audit page reads the newest entries by time (imported old entries get new ids: session 29) on the last."""
PG_LEDGER_INDEXES = (f"CREATE INDEX IF NOT EXISTS console_zaak_bsn ON zaak_state({PG_BSN})",
                     f"CREATE INDEX IF NOT EXISTS console_zaak_key ON zaak_state({PG_KEY})")


def bsn_of(conn: Any) -> str:
    return PG_BSN if is_pg(conn) else BSN


def key_of(conn: Any) -> str:
    """The expression of a zaak's number: SQLite's ``rowid``, PostgreSQL's :data:`PG_KEY`."""
    return PG_KEY if is_pg(conn) else "rowid"


def state_at(conn: Any, *path: str) -> str:
    """A text value of the zaak state at ``path``, as each dialect reads JSON."""
    return f"(state #>> '{{{','.join(path)}}}')" if is_pg(conn) else f"json_extract(state, '$.{'.'.join(path)}')"


def connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def has_table(conn: Any, name: str) -> bool:
    if is_pg(conn):
        return bool(conn.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0])
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def ensure_indexes(conn: Any) -> bool:
    """Create the console's indexes (once; minutes on a huge existing outbox); True when the ledger's is there too.
    On PostgreSQL concurrently (:func:`ensure_pg_indexes`): the replicas' writes go on while they are built."""
    if is_pg(conn):
        return ensure_pg_indexes(conn)
    for sql in INDEXES:
        conn.execute(sql)
    if not has_table(conn, "zaak_state"):
        return False
    for sql in LEDGER_INDEXES:
        conn.execute(sql)
    return True


BUILD_LOCK = 0x4F56_4358
""""OVCX": the session-level advisory lock a replica holds while it builds the console's indexes, so replicas starting
together take turns (two concurrent builds of one name: one fails on the catalog) and none mistakes an index another
is still building (invalid until done) for one left by an interrupted build. Not the store's write lock
(:data:`gateway.pgstore.conn.WRITE_LOCK`): the writers must not wait for a build."""
BUILD_POLL = 0.5
"""Seconds between two tries of :data:`BUILD_LOCK` while another replica builds. A blocking ``pg_advisory_lock``
would wait inside a statement, and a concurrent build waits for every statement older than its snapshot: the two
would wait for each other."""
CONCURRENTLY = ("CREATE INDEX IF NOT EXISTS", "CREATE INDEX CONCURRENTLY IF NOT EXISTS")


def index_name(sql: str) -> str:
    """The index a ``CREATE INDEX IF NOT EXISTS name ON ...`` statement makes."""
    return sql.split(" ON ", 1)[0].rsplit(" ", 1)[1]


def invalid_index(conn: Any, name: str) -> bool:
    """Whether ``name`` is an index left INVALID (a concurrent build interrupted: a replica killed, a cancel, a
    unique failure): IF NOT EXISTS would keep it, and PostgreSQL never uses it, so the pages would sort every row."""
    row = conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(?)", (name,)).fetchone()
    return row is not None and not row[0]


def ensure_pg_indexes(conn: Any, poll: float = BUILD_POLL) -> bool:
    """The console's indexes on PostgreSQL, each ``CREATE INDEX CONCURRENTLY`` (outside a transaction: writes go
    on while it is built; a plain build in a transaction held every replica's inserts on a large store), one replica
    at a time under :data:`BUILD_LOCK`; an INVALID one left by an interrupted build is dropped and built again.
    ``conn`` in autocommit (a :class:`PgConnection` is). True when the ledger's indexes are there too."""
    ledger = has_table(conn, "zaak_state")
    waited = False
    while not conn.execute("SELECT pg_try_advisory_lock(?)", (BUILD_LOCK,)).fetchone()[0]:
        if not waited:
            log.info("console indexes: waiting for another replica's build")
            waited = True
        time.sleep(poll)
    try:
        for sql in (*INDEXES, *PG_INDEXES, *(PG_LEDGER_INDEXES if ledger else ())):
            name = index_name(sql)
            if invalid_index(conn, name):
                log.warning("console index %s was left invalid by an interrupted build: building it again", name)
                conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            conn.execute(sql.replace(*CONCURRENTLY))
    finally:
        conn.execute("SELECT pg_advisory_unlock(?)", (BUILD_LOCK,))
    return ledger


@dataclass(slots=True)
class Filter:
    status: str | None = None
    route: str | None = None
    day_from: str | None = None
    """``YYYY-MM-DD`` (UTC), inclusive."""
    day_to: str | None = None
    """``YYYY-MM-DD`` (UTC), inclusive."""
    before: int | None = None
    """Keyset cursor: only messages with a smaller id (the next page)."""
    unmapped: bool = False
    """Only messages with source values no mapping rule used."""

    def query(self, **change: Any) -> dict[str, str]:
        """The filter as URL parameters (no personal data can be in here: none of its fields hold any)."""
        values = {"status": self.status, "route": self.route, "from": self.day_from, "to": self.day_to,
                  "before": self.before, "unmapped": "1" if self.unmapped else None, **change}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def day_start(day: str) -> float:
    return dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC).timestamp()


def _id_bounds(conn: Any, f: Filter) -> tuple[int, int] | None:
    """The ids of the first and last message inside the date range (None: nothing inside it)."""
    low, high = 0, 2**62
    if f.day_from:
        row = conn.execute("SELECT id FROM message WHERE received_at >= ? ORDER BY received_at LIMIT 1",
                           (day_start(f.day_from),)).fetchone()
        if row is None:
            return None
        low = int(row[0])
    if f.day_to:
        row = conn.execute("SELECT id FROM message WHERE received_at < ? ORDER BY received_at DESC LIMIT 1",
                           (day_start(f.day_to) + 86400,)).fetchone()
        if row is None:
            return None
        high = int(row[0])
    return (low, high) if low <= high else None


LIST_COLUMNS = ("id, received_at, route, mode, status, mapping, source_ref, afzender, ontvanger, times_received,"
                " fault_code, reason, unmapped")
WITH_UNMAPPED = "unmapped IS NOT NULL"
"""The clause of :attr:`Filter.unmapped`, spelt as the partial index ``console_message_unmapped`` is."""


def list_messages(conn: Any, f: Filter, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of messages, newest first, with their deliveries and zaken; and the cursor of the next page."""
    bounds = _id_bounds(conn, f)
    if bounds is None:
        return [], None
    low, high = bounds
    if f.before is not None:
        high = min(high, f.before - 1)
    if f.status in DELIVERY_STATUSES:
        hint = "" if is_pg(conn) else " INDEXED BY console_delivery_status"
        sql = (f"SELECT DISTINCT message_id FROM delivery{hint} WHERE status = ?"
               " AND message_id BETWEEN ? AND ?" + (" AND route = ?" if f.route else "")
               + (f" AND message_id IN (SELECT id FROM message WHERE {WITH_UNMAPPED})" if f.unmapped else "")
               + " ORDER BY message_id DESC LIMIT ?")
        args: list[Any] = [f.status, low, high, *([f.route] if f.route else []), limit + 1]
        ids = [int(r[0]) for r in conn.execute(sql, args)]
        more = len(ids) > limit
        ids = ids[:limit]
        found = {r["id"]: dict(r) for r in conn.execute(
            f"SELECT {LIST_COLUMNS} FROM message WHERE id IN ({','.join('?' * len(ids))})", ids)} if ids else {}
        rows = [found[i] for i in ids if i in found]
    else:
        clauses, args = ["id BETWEEN ? AND ?"], [low, high]
        if f.status in MESSAGE_STATUSES:
            clauses.append("status = ?")
            args.append(f.status)
        if f.route:
            clauses.append("route = ?")
            args.append(f.route)
        if f.unmapped:
            clauses.append(WITH_UNMAPPED)
        rows = [dict(r) for r in conn.execute(f"SELECT {LIST_COLUMNS} FROM message WHERE {' AND '.join(clauses)}"
                                              " ORDER BY id DESC LIMIT ?", [*args, limit + 1])]
        more = len(rows) > limit
        rows = rows[:limit]
    _attach_deliveries(conn, rows)
    for r in rows:
        r["unmapped"] = UnmappedInput.decode(r["unmapped"])
    return rows, (rows[-1]["id"] if more and rows else None)


def _attach_deliveries(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Each row gets ``deliveries`` [(target, status)], ``zaken`` and ``bsn`` (raw: the page masks it)."""
    by_id = {r["id"]: r for r in rows}
    for r in rows:
        r.update(deliveries=[], zaken=[], bsn=None)
    if not rows:
        return
    marks = ",".join("?" * len(by_id))
    for d in conn.execute(f"SELECT message_id, target, status, zaak FROM delivery WHERE message_id IN ({marks})"
                          " ORDER BY id", list(by_id)):
        row = by_id[d["message_id"]]
        row["deliveries"].append((d["target"], d["status"]))
        if d["zaak"] and d["zaak"] not in row["zaken"]:
            row["zaken"].append(d["zaak"])
    zaken = sorted({z for r in rows for z in r["zaken"]})
    if zaken and has_table(conn, "zaak_state"):
        bsns = {z: b for z, b in conn.execute(f"SELECT zaak, {bsn_of(conn)} FROM zaak_state WHERE zaak IN"
                                              f" ({','.join('?' * len(zaken))})", zaken)}
        for r in rows:
            r["bsn"] = next((bsns[z] for z in r["zaken"] if bsns.get(z)), None)


def routes(conn: Any) -> list[str]:
    """The routes that have messages (a skip-scan over the route index: cheap however many rows)."""
    out: list[str] = []
    row = conn.execute("SELECT min(route) FROM message").fetchone()
    while row is not None and row[0] is not None:
        out.append(str(row[0]))
        row = conn.execute("SELECT min(route) FROM message WHERE route > ?", (row[0],)).fetchone()
    return out


def message(conn: Any, message_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM message WHERE id = ?", (message_id,)).fetchone()
    return dict(row) if row else None


def deliveries(conn: Any, message_id: int) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute("SELECT * FROM delivery WHERE message_id = ? ORDER BY id", (message_id,))]


def delivery(conn: Any, delivery_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, message_id, route, target, referentienummer, zaak, status, attempts, replays,"
                       " http_status, reply_code, reason FROM delivery WHERE id = ?", (delivery_id,)).fetchone()
    return dict(row) if row else None


def zaak(conn: Any, key: int) -> dict[str, Any] | None:
    """A zaak of the ledger by its row number (the URL carries that, never the identificatie or a BSN)."""
    if not has_table(conn, "zaak_state"):
        return None
    row = conn.execute(f"SELECT {key_of(conn)} AS key, zaak, state, updated_at FROM zaak_state"
                       f" WHERE {key_of(conn)} = ?", (key,)).fetchone()
    return dict(row) if row else None


def zaak_key(conn: Any, identificatie: str) -> int | None:
    if not has_table(conn, "zaak_state"):
        return None
    row = conn.execute(f"SELECT {key_of(conn)} FROM zaak_state WHERE zaak = ?", (identificatie,)).fetchone()
    return int(row[0]) if row else None


def timeline(conn: Any, identificatie: str) -> list[dict[str, Any]]:
    """Every delivery made for a zaak with the message it came from, in the order they were planned."""
    return [dict(r) for r in conn.execute(
        "SELECT d.id, d.message_id, d.target, d.status, d.soap_action, d.referentienummer, d.attempts, d.replays,"
        " d.reply_code, d.reason, d.created_at, d.delivered_at, m.received_at, m.mapping, m.source_ref, m.route,"
        " substr(m.original, 1, 4000) AS head FROM delivery d JOIN message m ON m.id = d.message_id"
        " WHERE d.zaak = ? ORDER BY d.id", (identificatie,))]


def zaken_of_client(conn: Any, bsn: str, limit: int = 200) -> list[dict[str, Any]]:
    """The zaken whose state names this BSN as initiator (on the expression index of :data:`LEDGER_INDEXES`)."""
    if not has_table(conn, "zaak_state"):
        return []
    bsn_at = bsn_of(conn)
    return [dict(r) for r in conn.execute(
        f"SELECT {key_of(conn)} AS key, zaak, updated_at, {bsn_at} AS bsn, {state_at(conn, 'zaaktype', 'omschrijving')}"
        f" AS zaaktype, {state_at(conn, 'attrs', 'startdatum')} AS startdatum,"
        f" {state_at(conn, 'attrs', 'einddatum')} AS einddatum FROM zaak_state"
        f" WHERE {bsn_at} = ? ORDER BY zaak LIMIT ?", (bsn, limit))]


HOUR_SQLITE = "CAST(received_at / 3600 AS INTEGER) * 3600"
"""The clock hour a message came in: SQLite's CAST truncates, as wanted."""
HOUR_PG = "CAST(floor(received_at / 3600) AS BIGINT) * 3600"
"""The same on PostgreSQL, whose CAST to an integer rounds: floor first (half an hour's messages counted in the next
hour otherwise)."""


@dataclass(slots=True)
class Health:
    deliveries: list[tuple[str, str, str, int]]
    quarantined: dict[str, int]
    oldest_pending: float | None
    messages: int
    last_hour: int = 0
    last_day: int = 0
    per_hour: list[tuple[float, int]] = field(default_factory=list)
    """Messages received per clock hour over the last 24 hours, oldest first: (hour start, count)."""

    @property
    def busiest_hour(self) -> int:
        return max((n for _, n in self.per_hour), default=0)

    def per_target(self) -> list[tuple[str, str, int, int, int, float | None]]:
        """(route, target, pending, delivered, dead, failure rate = dead / finished) per downstream target."""
        table: dict[tuple[str, str], dict[str, int]] = {}
        for route, target, status, n in self.deliveries:
            table.setdefault((route, target), {})[status] = n
        out = []
        for (route, target), by in sorted(table.items()):
            done = by.get("delivered", 0) + by.get("dead", 0)
            out.append((route, target, by.get("pending", 0), by.get("delivered", 0), by.get("dead", 0),
                        by.get("dead", 0) / done if done else None))
        return out


def health(conn: Any, now: float | None = None) -> Health:
    """The outbox's figures: the same counts as ``/admin/outbox`` (and, per target, ``overstap_queue_depth``)."""
    counts = [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(
        "SELECT route, target, status, count(*) FROM delivery GROUP BY route, target, status ORDER BY 1, 2, 3")]
    quarantined = {r[0]: int(r[1]) for r in conn.execute(
        "SELECT route, count(*) FROM message WHERE status = 'quarantined' GROUP BY route")}
    oldest = conn.execute("SELECT created_at FROM delivery WHERE status = 'pending' ORDER BY id LIMIT 1").fetchone()
    total = conn.execute("SELECT count(*) FROM message").fetchone()
    now = time.time() if now is None else now
    recent = [int(conn.execute("SELECT count(*) FROM message WHERE received_at >= ?", (now - span,)).fetchone()[0])
              for span in (3600, 86400)]  # a range of the received_at index: cheap, however large the outbox
    first = int(now // 3600 - 23) * 3600
    hour = HOUR_PG if is_pg(conn) else HOUR_SQLITE
    by_hour = {int(h): n for h, n in conn.execute(f"SELECT {hour}, count(*) FROM message "
                                                  "WHERE received_at >= ? GROUP BY 1", (first,))}  # the same range
    hours = [(first + i * 3600, int(by_hour.get(first + i * 3600, 0))) for i in range(24)]
    return Health(counts, quarantined, float(oldest[0]) if oldest else None, int(total[0]), *recent, per_hour=hours)
