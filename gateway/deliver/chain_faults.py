"""What a chain's Fo01 does to the outbox: the delivery it refuses becomes a dead letter, in one transaction.

The ISD-keten accepts an envelope at once (Bv03) and refuses it later in a StUF Fo01 whose crossRefnummer is the
envelope's referentienummer (GGk spec 2.3). The outbox keeps that referentienummer with every delivery, so the
Fo01 finds what it refuses there; the delivery then reads as a dead letter with the chain's reason, as one the
downstream refused at once would, and ``outbox replay`` sends it again after a fix. The Fo01 itself is kept like
any message, before it is answered; one that names nothing this gateway sent goes to quarantine, never nowhere.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass

from . import outbox, restamp
from .replies import scrub

PREFIX = "refused by the chain: Fo01"


class QuarantineFull(Exception):
    """The quarantine has no room for a new refused message (a Fo01 naming nothing this gateway sent, junk): nothing
    of it is stored, and its sender, answered "offer it again later", still holds it."""


@dataclass(frozen=True, slots=True)
class Settled:
    """What one Fo01 did: the message it is kept as, and the delivery it marked (None: quarantined)."""

    message_id: int
    delivery_id: int | None = None
    route: str | None = None
    was: str | None = None
    """The delivery's status before: ``delivered`` as a rule (the chain took it, then refused it)."""
    repeat: bool = False
    """The same Fo01 again: counted, the delivery not marked a second time (it may have been replayed since); or,
    quarantined, counted up in the entry it has there."""

    @property
    def quarantined(self) -> bool:
        return self.delivery_id is None


def reason_of(code: str, plek: str, omschrijving: str, details: str | None) -> str:
    """The dead letter's reason: the chain's code and plek, and its texts scrubbed (a BSN in them masked), as the
    outbox keeps a downstream's refusal (:meth:`Reply.reason`)."""
    said = ": ".join(t for t in (omschrijving, details) if t)
    return scrub(f"{PREFIX} {code} {plek}" + (f": {said}" if said else ""))


def sent_delivery(conn: sqlite3.Connection, referentienummer: str, routes: Collection[str]) -> sqlite3.Row | None:
    """The delivery to the new downstream of one of ``routes`` that went out under ``referentienummer``."""
    if not routes:
        return None
    marks = ",".join("?" * len(routes))
    return conn.execute(f"SELECT id, route, status FROM delivery WHERE referentienummer = ? AND target = ? AND"
                        f" route IN ({marks}) ORDER BY id DESC LIMIT 1",
                        (referentienummer, outbox.NEW, *routes)).fetchone()


def settle(conn: sqlite3.Connection, message: outbox.NewMessage, cross_ref: str, code: str, reason: str,
           routes: Collection[str], now: float | None = None, *, room: bool = True) -> Settled:
    """Keep the Fo01 ``message`` and mark the delivery of ``routes`` whose referentienummer is ``cross_ref`` dead
    with ``reason`` (its reply code ``Fo01 <code>``); a Fo01 that names no such delivery is quarantined with that
    said, or, without ``room`` there, refused (:class:`QuarantineFull`). One transaction (the group committer's):
    a Fo01 is answered only once both are stored."""
    now = time.time() if now is None else now
    found = sent_delivery(conn, cross_ref, routes)
    if found is None and (newer := restamp.replaced_by(conn, cross_ref)) is not None:
        return _about_replaced(conn, message, cross_ref, newer, reason, routes, now, room)
    if found is None:
        message.reason = outbox.cap(f"{reason} — about referentienummer {cross_ref}, which names no delivery this "
                                    "gateway sent")
        return _quarantined(conn, message, now, room)
    delivery_id, route, was = int(found[0]), str(found[1]), str(found[2])
    message.reason = outbox.cap(f"{reason} — delivery {delivery_id} ({route}) marked dead")
    kept = outbox.accept(conn, message, (), now)
    if kept.times_received > 1:
        return Settled(kept.message_id, delivery_id, route, was, repeat=True)
    conn.execute("UPDATE delivery SET status = 'dead', reply_code = ?, reason = ?, updated_at = ? WHERE id = ?",
                 (f"Fo01 {code}", outbox.cap(reason), now, delivery_id))
    if was == outbox.PENDING:  # the forwarder may hold it: let it look at the outbox again
        outbox.bump_generation(conn)
    return Settled(kept.message_id, delivery_id, route, was)


def _quarantined(conn: sqlite3.Connection, message: outbox.NewMessage, now: float, room: bool) -> Settled:
    """A Fo01 about nothing this gateway (still) has, kept in quarantine when there is room, or counted up in the
    entry it has there already (that takes none)."""
    if not room:
        if (kept := outbox.keep_quarantined_again(conn, message, now)) is not None:  # costs no room
            return Settled(kept, repeat=True)
        raise QuarantineFull(message.route)
    message_id, times = outbox.keep_quarantined(conn, message, now)
    return Settled(message_id, repeat=times > 1)


def _about_replaced(conn: sqlite3.Connection, message: outbox.NewMessage, cross_ref: str, newer: str, reason: str,
                    routes: Collection[str], now: float, room: bool) -> Settled:
    """A Fo01 about an envelope a replay has since sent again in a new one (gateway/deliver/restamp.py): kept and
    counted as a repeat, the delivery left as it is (its new envelope is not what this Fo01 refuses)."""
    found = sent_delivery(conn, newer, routes)
    if found is None:  # the delivery was purged since: nothing of it to name
        message.reason = outbox.cap(f"{reason} — about referentienummer {cross_ref}, sent again since as {newer}")
        return _quarantined(conn, message, now, room)
    delivery_id, route, was = int(found[0]), str(found[1]), str(found[2])
    message.reason = outbox.cap(f"{reason} — about referentienummer {cross_ref}, which delivery {delivery_id} "
                                f"({route}) replaced by {newer}: left as it is")
    kept = outbox.accept(conn, message, (), now)
    return Settled(kept.message_id, delivery_id, route, was, repeat=True)
