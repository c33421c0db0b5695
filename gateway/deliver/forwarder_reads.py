"""What the forwarder reads of the outbox to do its work: what changed behind it, what to send and the bytes to
send, which deliveries settled, which renewals a dead replica left owed.

Why its own module: these are the forwarder's polls, reads only and each one statement; the writes that decide a
delivery's fate stay in ``outbox.py`` (split from it in session 30, when it passed 500 lines). The forwarder and
``settled_writes.py`` call them as attributes of this module, so a test can wrap one where it is read.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from .outbox import STILL_SENT, Queued


def generation(conn: sqlite3.Connection) -> int:
    """The outbox's generation, raised by every write that changes pending rows behind a running forwarder
    (:func:`gateway.deliver.outbox.bump_generation`): a poll that finds it changed reads :func:`pending` again."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row else 0


def pending(conn: sqlite3.Connection) -> list[Queued]:
    """Every delivery still to be made, oldest first (payloads are loaded when sent)."""
    rows = conn.execute("SELECT id, route, target, order_key, referentienummer, attempts, next_at FROM delivery"
                        " WHERE status = 'pending' ORDER BY id").fetchall()
    return [Queued(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def renewals_owed(conn: sqlite3.Connection, before: float) -> list[int]:
    """The dead letters whose renewal in a new envelope is owed (written with them, gateway/deliver/restamp.py
    ``owe_renewal``) and not paid, last touched before ``before``: those a replica that died left (a live one pays
    its own within milliseconds). Few rows, through the partial index ``delivery_renewal_owed``."""
    return [int(r[0]) for r in conn.execute("SELECT id FROM delivery WHERE renewal_owed = 1 AND updated_at < ?"
                                            " ORDER BY id", (before,)).fetchall()]


def settled(conn: sqlite3.Connection, ids: Sequence[int]) -> list[Any]:
    """(id, status, http_status, reply_code, reason, referentienummer) of those deliveries that are no longer
    pending: the referentienummer says which envelope the status is about (a renewal puts a GGk one in a new one)."""
    return conn.execute("SELECT id, status, http_status, reply_code, reason, referentienummer FROM delivery"
                        " WHERE status != 'pending'"
                        f" AND id IN ({','.join('?' * len(ids))})", list(ids)).fetchall()


def load_payload(conn: sqlite3.Connection, delivery_id: int, sent_as: str | None = None
                 ) -> tuple[bytes, str, str | None] | None:
    """The bytes to send, or None when the delivery is no longer pending under ``sent_as`` (a replay put it in a
    new envelope meanwhile: the forwarder's copy of it is stale, and those bytes must go as the new delivery)."""
    row = conn.execute("SELECT payload, content_type, soap_action FROM delivery WHERE id = ?" + STILL_SENT,
                       (delivery_id, sent_as)).fetchone()
    return (bytes(row[0]), row[1], row[2]) if row else None
