"""The durable outbox of the sidecar: every inbound message and what it must become, in SQLite (WAL).

A message is acknowledged only after its row and its deliveries are committed with
``synchronous=FULL``, so a power cut after the Bv03 cannot lose it. The same file holds the
quarantine (refused input and why) and the dead letters (what a downstream refused and why), so an
operator can inspect and replay everything with ``overstap outbox``. Writes are plain functions over
a connection so the group committer can put many of them into one transaction (one fsync). The tables
are the revisions in gateway/schema/versions, the same on SQLite and PostgreSQL (gateway/deliver/store.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway import schema
from gateway.pgstore.notify import notify

from .listing import counts as counts  # what operators list: in its own module, the names kept here for callers
from .listing import delivery_rows as delivery_rows
from .listing import message_rows as message_rows
from .listing import quarantine_counts as quarantine_counts
from .readonly import connect_read_only as connect_read_only  # opened to look, the folder left as it was

DB_NAME = "outbox.sqlite3"
PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
ACCEPTED, QUARANTINED = "accepted", "quarantined"
NEW, LEGACY = "new", "legacy"
"""Delivery targets: the canonical message to the new downstream, the original to the legacy one."""

MAX_REASON = 1000
"""Characters of a stored reason: enough to say what is wrong, never a whole payload (issue 11)."""


def cap(text: str | None, limit: int = MAX_REASON) -> str | None:
    """A reason as it is stored: one line, at most ``limit`` characters."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


NO_OUTPUT = "no output: "
"""How the reason of a converted message that planned no canonical delivery begins (a retour, "no change"):
told apart from a failed conversion's reason, so the shadow report can say why the new side got nothing."""


def no_output(notes: Sequence[str]) -> str:
    """The stored reason of a converted message without outputs: the converter's first note (what it decided)."""
    return str(cap(NO_OUTPUT + (notes[0] if notes else "the conversion made no message")))


class ReferenceConflict(ValueError):
    """A message whose reference is already taken by a different message: not a re-send."""

    def __init__(self, referentienummer: str) -> None:
        super().__init__(f"referentienummer {referentienummer} already belongs to a different message "
                         "(same identificatie, other content): a re-send must be the same message")
        self.referentienummer = referentienummer


RETOUR_KEY = "retour|"
"""How a retour's source key begins: a 302 echoes its 301's Afzender, Identificatie and Dagtekening, so its identity
is "the retour to that heenbericht" (one Du01 per Di01, GGk spec 2.2), never the heenbericht itself."""
LEDGER_MODES = ("translate", "shadow")
"""The modes whose routes render against the zaak ledger: one sidecar's view of one chain."""
ID_RANGE = (-(2**63), 2**63 - 1)
"""The ids SQLite can hold (a 64-bit INTEGER): any other is no row, and sqlite3 would raise OverflowError on it."""


def source_key(afzender: str | None, identificatie: str | None, dagtekening: str | None = None, *,
               retour: bool = False) -> str | None:
    """Who sent a message under which identificatie (iWmo: BerichtIdentificatie = Identificatie + Dagtekening,
    unique per Afzender): two messages with the same key are the same message, or one of them is wrong. A retour's
    key is its heenbericht's marked :data:`RETOUR_KEY`: it answers that message, it is not another one under it."""
    if not identificatie:
        return None
    key = f"{afzender or ''}|{identificatie}|{dagtekening or ''}"
    return RETOUR_KEY + key if retour else key


def connect(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, fsync on every commit."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


def open_db(data_dir: str | Path) -> Path:
    """Create the data folder and bring the outbox's schema to head (gateway/schema); return the database path.

    At head that is one small query; a new (empty) file gets the revisions' statements in one transaction
    (gateway/schema/fresh.py); Alembic runs (and is imported) only for an older outbox.
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DB_NAME
    if schema.behind_at(lambda: connect(path)) and not _made_new(path):  # connect: WAL before the first table
        from gateway.schema.run import upgrade

        upgrade(path)
    return path


def _made_new(path: Path) -> bool:
    """Whether ``path`` was an empty file, now a store at head (gateway/schema/fresh.py)."""
    from gateway.schema.fresh import create

    conn = connect(path)
    try:
        return create(conn)
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class NewMessage:
    """An inbound message as received, with what conversion learnt about it (or why it failed)."""

    route: str
    mode: str
    original: bytes
    content_type: str | None = None
    soap_action: str | None = None
    source_ref: str | None = None
    afzender: str | None = None
    ontvanger: str | None = None
    mapping: str | None = None
    fault_code: str | None = None
    fault_field: str | None = None
    fault_line: int | None = None
    reason: str | None = None
    body_sha256: str = ""
    source_key: str | None = None
    """The sender's identity of the message (:func:`source_key`), when conversion could read it."""
    content_sha256: str | None = None
    """A digest of what the message says (its canonical model): the same in any envelope or formatting."""
    unmapped: str | None = None
    """The source paths and lines no mapping rule used (:meth:`UnmappedInput.encode`, never values); None: none."""
    shared_routes: tuple[str, ...] = ()
    """Other routes whose accepted messages share this one's identity: for a retour, the routes of its zaak ledger,
    so a second 302 to one 301 is refused on any of them, whatever mapping read it (one Du01 per Di01, GGk spec
    2.2)."""

    def __post_init__(self) -> None:
        if not self.body_sha256:
            self.body_sha256 = sha256(self.original)
        self.reason = cap(self.reason)
        self.fault_field = cap(self.fault_field, 200)


@dataclass(slots=True)
class NewDelivery:
    """One thing to send: the payload exactly as it goes on the wire, its stable reference and order key."""

    target: str
    referentienummer: str
    order_key: str
    payload: bytes
    content_type: str
    soap_action: str | None = None
    zaak: str | None = None


@dataclass(slots=True)
class Queued:
    """A pending delivery as the forwarder tracks it (payload loaded lazily when not in hand)."""

    id: int
    route: str
    target: str
    order_key: str
    referentienummer: str
    attempts: int = 0
    next_at: float = 0.0
    payload: bytes | None = None
    content_type: str | None = None
    soap_action: str | None = None


@dataclass(slots=True)
class Accepted:
    """What a durable accept wrote: the message row, the new deliveries and the ones already known."""

    message_id: int
    times_received: int
    queued: list[Queued] = field(default_factory=list)
    known: list[tuple[int, str, str, str]] = field(default_factory=list)
    """(delivery id, status, target, route) of deliveries that existed already: a re-sent message (a retour's may be
    of another route of its ledger)."""
    refs: list[str] = field(default_factory=list)
    """The referentienummers of what this message became, in order: for a re-send, those stored the first time."""
    repeat: bool = False
    """A re-send answered from what was stored the first time: nothing new was planned or kept."""
    renew: list[int] = field(default_factory=list)
    """Dead letters of a re-send that are GGk envelopes the chain refused (gateway/deliver/restamp.py): left dead
    here, for the caller to replay in a new envelope (its tijdstipBericht comes from the ledger's counter, which
    this write does not hold); revived as stored, the chain would get a UUID it holds (StUF 03.01 4.4)."""

    @property
    def duplicate(self) -> bool:
        return not self.queued and (self.repeat or bool(self.known))


def _upsert_message(conn: sqlite3.Connection, message: NewMessage, status: str, now: float,
                    also_set: str = "") -> sqlite3.Row:
    """Insert a message, or count one more arrival of the same bytes in the same state; (id, times_received)."""
    return conn.execute(
        "INSERT INTO message (received_at, last_received_at, route, mode, status, body_sha256, source_ref, afzender,"
        " ontvanger, mapping, content_type, soap_action, original, fault_code, fault_field, fault_line, reason,"
        " source_key, content_sha256, unmapped) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(route, status, body_sha256) DO UPDATE SET times_received = message.times_received + 1,"
        f" last_received_at = excluded.last_received_at{also_set} RETURNING id, times_received",
        (now, now, message.route, message.mode, status, message.body_sha256, message.source_ref, message.afzender,
         message.ontvanger, message.mapping, message.content_type, message.soap_action, message.original,
         message.fault_code, message.fault_field, message.fault_line, message.reason, message.source_key,
         message.content_sha256, message.unmapped),
    ).fetchone()


def accept(conn: sqlite3.Connection, message: NewMessage, deliveries: Iterable[NewDelivery],
           now: float | None = None) -> Accepted:
    """Store a message and queue its deliveries; a re-sent one is counted and answered from what it became.

    A re-send is the same sender's identificatie with the same content (in whatever envelope), or the same
    bytes: it gets the deliveries stored the first time, never new ones (profile zkn v2 and GGk render new
    referentienummers every time, and the ledger already holds its effect). The same identificatie with
    other content raises :class:`ReferenceConflict`. A delivery already in the outbox is left alone, unless
    it is a dead letter: StUF lets a sender offer a refused message again once the cause is gone, so that
    revives it (with the payload of now where it was planned again under the same reference).
    """
    now = time.time() if now is None else now
    deliveries = list(deliveries)
    earlier = _same_source(conn, message)
    if earlier is not None:
        return _repeat(conn, earlier, deliveries, now)
    row = _upsert_message(conn, message, ACCEPTED, now)
    if row[1] > 1 and conn.execute("SELECT 1 FROM delivery WHERE message_id = ?", (row[0],)).fetchone():
        return _repeat(conn, row[0], deliveries, now, counted=True)
    result = Accepted(row[0], row[1], refs=[d.referentienummer for d in deliveries])
    for d in deliveries:
        found = conn.execute(
            "INSERT INTO delivery (message_id, route, target, referentienummer, order_key, zaak, payload, content_type,"
            " soap_action, status, created_at, next_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(route, target, referentienummer) DO UPDATE SET status = 'pending', attempts = 0,"
            " payload = excluded.payload, next_at = excluded.next_at, updated_at = excluded.updated_at,"
            f" reason = substr('offered again by the sender after: ' || coalesce(delivery.reason, ''), 1, {MAX_REASON})"
            " WHERE delivery.status = 'dead' RETURNING id",
            (result.message_id, message.route, d.target, d.referentienummer, d.order_key, d.zaak, d.payload,
             d.content_type, d.soap_action, PENDING, now, now, now),
        ).fetchone()
        if found is not None:
            result.queued.append(Queued(found[0], message.route, d.target, d.order_key, d.referentienummer, 0, now,
                                        d.payload, d.content_type, d.soap_action))
            continue
        old = conn.execute("SELECT delivery.id, delivery.status, delivery.payload, message.body_sha256 FROM delivery"
                           " JOIN message ON message.id = delivery.message_id WHERE delivery.route = ? AND"
                           " delivery.target = ? AND referentienummer = ?",
                           (message.route, d.target, d.referentienummer)).fetchone()
        if old[3] != message.body_sha256 and bytes(old[2]) != d.payload:
            raise ReferenceConflict(d.referentienummer)  # e.g. an identificatie reused for another client
        result.known.append((old[0], old[1], d.target, message.route))
    return result


def repeated(conn: sqlite3.Connection, message: NewMessage) -> int | None:
    """The accepted message this one re-sends — the same sender identity with the same content, or the same bytes
    whose deliveries are stored — or None; the same identity with other content raises ReferenceConflict.
    Asked before rendering when the render writes the ledger itself (a shared store): a re-send must not."""
    earlier = _same_source(conn, message)
    if earlier is not None:
        return earlier
    row = conn.execute("SELECT id FROM message WHERE route = ? AND status = ? AND body_sha256 = ? AND EXISTS"
                       " (SELECT 1 FROM delivery WHERE delivery.message_id = message.id)",
                       (message.route, ACCEPTED, message.body_sha256)).fetchone()
    return int(row[0]) if row is not None else None


def _same_source(conn: sqlite3.Connection, message: NewMessage) -> int | None:
    """The accepted message that already carries this message's source key (on its route, or for a retour one of its
    ``shared_routes`` in a ledger mode), or None; a conflict raises. A retour stored before session 27 carries its
    heenbericht's key unmarked: it counts when its mapping is this one's (a heenbericht's never is)."""
    if message.source_key is None or message.content_sha256 is None:
        return None
    routes = (message.route, *(r for r in message.shared_routes if r != message.route))
    legacy = message.source_key.removeprefix(RETOUR_KEY)
    # One key unless a retour's: two keys (or routes) have SQLite sort the rows found in a temporary B-tree for the
    # ORDER BY, ~130 µs a message on the server's writer thread (session 28); one key reads an index range in id order
    keys = (message.source_key,) if legacy == message.source_key else (message.source_key, legacy)
    row = conn.execute(  # another route's row only if it went to the chain (translate, shadow)
        f"SELECT id, content_sha256 FROM message WHERE route IN ({', '.join('?' * len(routes))})"
        f" AND source_key IN ({', '.join('?' * len(keys))}) AND status = ? AND (source_key = ? OR mapping = ?)"
        " AND (route = ? OR mode IN (?, ?)) ORDER BY id LIMIT 1",
        (*routes, *keys, ACCEPTED, message.source_key, message.mapping, message.route, *LEDGER_MODES)).fetchone()
    if row is None:
        return None
    if row[1] != message.content_sha256:
        raise ReferenceConflict(message.source_ref or message.source_key)
    return int(row[0])


def ledger_routes(conn: Any) -> tuple[str, ...]:
    """The routes whose messages the outbox holds, for an operator's command that knows no configuration: those of
    them in a ledger mode (:data:`LEDGER_MODES`) share a retour's identity. One index step a route (the
    ``message_source`` index leads with ``route``), not a scan of every message."""
    return tuple(str(r[0]) for r in conn.execute(
        "WITH RECURSIVE r(route) AS (SELECT min(route) FROM message UNION ALL SELECT (SELECT min(route) FROM message"
        " WHERE route > r.route) FROM r WHERE r.route IS NOT NULL) SELECT route FROM r WHERE route IS NOT NULL"))


def _repeat(conn: sqlite3.Connection, message_id: int, deliveries: list[NewDelivery], now: float,
            counted: bool = False) -> Accepted:
    """A re-send: count it and answer with the message's stored deliveries, reviving its dead letters."""
    if not counted:
        conn.execute("UPDATE message SET times_received = times_received + 1, last_received_at = ? WHERE id = ?",
                     (now, message_id))
    times = int(conn.execute("SELECT times_received FROM message WHERE id = ?", (message_id,)).fetchone()[0])
    fresh = {(d.target, d.referentienummer): d.payload for d in deliveries}
    result = Accepted(message_id, times, repeat=True)
    rows = conn.execute("SELECT id, route, target, order_key, referentienummer, status, payload, content_type,"
                        " soap_action, reply_code FROM delivery WHERE message_id = ? ORDER BY id",
                        (message_id,)).fetchall()
    from . import restamp  # restamp imports this module: imported here, not at the top

    for delivery_id, route, target, order_key, ref, status, stored, content_type, action, reply_code in rows:
        result.refs.append(ref)
        if status != DEAD:
            result.known.append((delivery_id, status, target, route))
            continue
        if restamp.refused_envelope(target, reply_code, bytes(stored), ref):
            result.known.append((delivery_id, status, target, route))
            result.renew.append(delivery_id)
            continue
        payload = fresh.get((target, ref), bytes(stored))
        conn.execute("UPDATE delivery SET status = 'pending', attempts = 0, payload = ?, next_at = ?, updated_at = ?,"
                     f" reason = substr('offered again by the sender after: ' || coalesce(reason, ''), 1, {MAX_REASON})"
                     " WHERE id = ?", (payload, now, now, delivery_id))
        result.queued.append(Queued(delivery_id, route, target, order_key, ref, 0, now, payload, content_type, action))
    return result


def quarantine(conn: sqlite3.Connection, message: NewMessage, now: float | None = None) -> int:
    """Keep refused input with the reason it was refused; the same input again only counts up."""
    return keep_quarantined(conn, message, now)[0]


def keep_quarantined(conn: sqlite3.Connection, message: NewMessage, now: float | None = None) -> tuple[int, int]:
    """:func:`quarantine`, saying (id, times received): 1 is a new entry, which the quarantine's bound counts."""
    now = time.time() if now is None else now
    row = _upsert_message(conn, message, QUARANTINED, now, ", reason = excluded.reason, fault_code = "
                          "excluded.fault_code, fault_field = excluded.fault_field, fault_line = excluded.fault_line")
    return int(row[0]), int(row[1])


def keep_quarantined_again(conn: sqlite3.Connection, message: NewMessage, now: float | None = None) -> int | None:
    """The entry the quarantine holds already for these bytes on this route, counted up as :func:`keep_quarantined`
    would; None (nothing written) when there is none. For a full quarantine: a repeat takes no room, so it is
    answered as its first arrival was, not refused as if it were new."""
    now = time.time() if now is None else now
    row = conn.execute("UPDATE message SET times_received = times_received + 1, last_received_at = ?, reason = ?,"
                       " fault_code = ?, fault_field = ?, fault_line = ? WHERE route = ? AND status = 'quarantined'"
                       " AND body_sha256 = ? RETURNING id",
                       (now, message.reason, message.fault_code, message.fault_field, message.fault_line,
                        message.route, message.body_sha256)).fetchone()
    return None if row is None else int(row[0])


STILL_SENT = " AND status = 'pending' AND referentienummer = coalesce(?, referentienummer)"
"""An attempt's outcome is written only to the delivery it was made for: still pending, and (``sent_as``) under
the referentienummer it went out as. A chain's Fo01 stored while the attempt was on the wire made it a dead letter
(gateway/deliver/chain_faults.py), and a replay may have queued it in a new envelope since (restamp.py): the
attempt's answer must undo neither."""


def mark_delivered(conn: sqlite3.Connection, delivery_id: int, attempts: int, http_status: int | None,
                   reply_code: str | None, now: float | None = None, *, sent_as: str | None = None) -> bool:
    """Whether it was written (:data:`STILL_SENT`)."""
    now = time.time() if now is None else now
    return conn.execute("UPDATE delivery SET status = 'delivered', attempts = ?, http_status = ?, reply_code = ?,"
                        " delivered_at = ?, updated_at = ?, reason = NULL WHERE id = ?" + STILL_SENT,
                        (attempts, http_status, reply_code, now, now, delivery_id, sent_as)).rowcount == 1


def mark_retry(conn: sqlite3.Connection, delivery_id: int, attempts: int, next_at: float, http_status: int | None,
               reason: str, now: float | None = None, *, sent_as: str | None = None) -> bool:
    """Whether it was written (:data:`STILL_SENT`): a replay's new envelope keeps its own attempts, next attempt
    and reason, not those of the old envelope's failed attempt."""
    now = time.time() if now is None else now
    return conn.execute("UPDATE delivery SET attempts = ?, next_at = ?, http_status = ?, reason = ?, updated_at = ?"
                        " WHERE id = ?" + STILL_SENT,
                        (attempts, next_at, http_status, cap(reason), now, delivery_id, sent_as)).rowcount == 1


def mark_dead(conn: sqlite3.Connection, delivery_id: int, attempts: int, http_status: int | None,
              reply_code: str | None, reason: str, now: float | None = None, *, sent_as: str | None = None) -> bool:
    """Whether it was written (:data:`STILL_SENT`): a Fo01's reason is not replaced by the attempt's."""
    now = time.time() if now is None else now
    return conn.execute("UPDATE delivery SET status = 'dead', attempts = ?, http_status = ?, reply_code = ?,"
                        " reason = ?, updated_at = ? WHERE id = ?" + STILL_SENT,
                        (attempts, http_status, reply_code, cap(reason), now, delivery_id, sent_as)).rowcount == 1


def bump_generation(conn: sqlite3.Connection) -> None:
    """Tell a running forwarder (polling ``forwarder_reads.generation``) that pending rows changed behind its back;
    replicas on PostgreSQL hear it at COMMIT (gateway/pgstore/notify.py), not at their next poll."""
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
    notify(conn)


def claim_renewal(conn: sqlite3.Connection, delivery_id: int) -> bool:
    """Take the renewal owed on a delivery, in the transaction that queues its new envelope: True for one writer
    only (the others, a second replica or a replay, find it paid). Writers take turns (SQLite's write lock, the
    store's advisory lock on PostgreSQL), so the check and the write are one step."""
    return conn.execute("UPDATE delivery SET renewal_owed = 0 WHERE id = ? AND renewal_owed = 1",
                        (delivery_id,)).rowcount == 1


def delivery(conn: sqlite3.Connection, delivery_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM delivery WHERE id = ?", (delivery_id,)).fetchone()


def message(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM message WHERE id = ?", (message_id,)).fetchone()


def deliveries_of(conn: sqlite3.Connection, message_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT id, route, target, referentienummer, order_key, zaak, status, attempts, replays,"
                        " http_status, reply_code, reason, delivered_at, updated_at FROM delivery"
                        " WHERE message_id = ? ORDER BY id", (message_id,)).fetchall()


def requeue(conn: sqlite3.Connection, delivery_id: int, payload: bytes | None = None,
            now: float | None = None) -> bool:
    """Make a dead (or delivered) delivery pending again, optionally with a new payload; True if it was. A renewal
    it was owed (:func:`gateway.deliver.forwarder_reads.renewals_owed`) is paid by it: queued again is what the
    renewal would have done."""
    now = time.time() if now is None else now
    if payload is None:
        cur = conn.execute("UPDATE delivery SET status = 'pending', attempts = 0, next_at = ?, updated_at = ?,"
                           " replays = replays + 1, renewal_owed = 0 WHERE id = ? AND status != 'pending'",
                           (now, now, delivery_id))
    else:
        cur = conn.execute("UPDATE delivery SET status = 'pending', attempts = 0, next_at = ?, updated_at = ?,"
                           " replays = replays + 1, payload = ?, renewal_owed = 0 WHERE id = ? AND status != 'pending'",
                           (now, now, payload, delivery_id))
    return cur.rowcount == 1


def purge(conn: sqlite3.Connection, *, before: float, statuses: Iterable[str] = (DELIVERED,),
          quarantined: bool = False) -> tuple[int, int]:
    """Delete finished deliveries (and quarantine entries) last touched before ``before``.

    Messages left without any delivery go too. Pending deliveries are never purged. Returns
    (deliveries removed, messages removed).
    """
    wanted = [s for s in statuses if s != PENDING]
    removed = 0
    if wanted:
        removed = conn.execute(f"DELETE FROM delivery WHERE status IN ({','.join('?' * len(wanted))})"
                               " AND updated_at < ?", (*wanted, before)).rowcount
    gone = conn.execute("DELETE FROM message WHERE (status = 'accepted' OR status LIKE 'superseded by %') AND"
                        " last_received_at < ? AND NOT EXISTS (SELECT 1 FROM delivery d WHERE d.message_id ="
                        " message.id)", (before,)).rowcount  # superseded: converted anew (gateway/deliver/reconvert.py)
    if quarantined:
        gone += conn.execute("DELETE FROM message WHERE status = 'quarantined' AND last_received_at < ?",
                             (before,)).rowcount
    return removed, gone
