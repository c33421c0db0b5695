"""Re-conversion: a zkn message the receiver refused because of Overstap (a mapping or rendering fault), converted
anew from its stored source once the fault is fixed (``overstap outbox reconvert``).

Why not replay: replay sends the stored zakLk01 again, right when the cause lay with the receiver. When it lay with
the sender, StUF 03.01 4.4.3 says "Wanneer het probleem bij de zender ligt, dan dient de zender na het oplossen van
het probleem een nieuw bericht aan te maken met een nieuw referentienummer en een nieuw tijdstipBericht": the
message must be rendered again, and the zaak ledger must first forget the zaak as the refused message left it, or
the new rendering is an updateZaak from a state the receiver never had.

What can be done safely here: the ledger keeps only the zaak's last state, not the state before each message. So a
zaak is taken back only when the receiver holds none of it: every delivery of the zaak (and of every message that
rendered onto it, and of their other zaken) is a dead letter. The zaak's state and chain keys are then dropped (the
receiver never took that identificatie; the fixed mapping may derive another), and those messages are converted again
with the mappings of now, in the order they came, as fresh arrivals. A zaak with a delivery delivered or pending is
refused, naming them. The old messages stay, status ``superseded by N``, their dead letters with a reason saying
what replaced them (gateway/deliver/superseded.py: replay refuses them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.pipeline import FAILURES, describe
from gateway.zaken.plan import CREEER, SOAP_ACTIONS

from . import imported, outbox, superseded
from .replay import Convert, InOrder, accept_converted

MAX_NAMED = 10
"""Ids a refusal names at most: enough to act on, never a whole outbox."""
MAX_MESSAGES = 200
"""Messages one reconvert converts at most. It is one transaction, through the sidecar under its render lock and on
PostgreSQL in the store's write lock, so every arriving message waits for it: 3.3 ms a message measured (1,000
toewijzingen in 3.3 s), so 200 hold it 0.7 s, where the 100,000 ids an admin request may name held it 5 minutes."""
ZAKEN_AT_ONCE = 500
"""Zaken one query of :func:`messages_of` asks for."""
OF_ZAKEN = "SELECT DISTINCT message_id FROM delivery WHERE zaak IN ({marks})"
"""Served by schema 0007's ``delivery_zaak`` (tests/test_reconvert_review.py reads its query plan)."""


NOT_DEAD, SUPERSEDED, NOT_ZAAK, TOO_MANY, SHADOW = "not-dead", "superseded", "not-zaak", "too-many", "shadow"
HELD, MAY_HOLD, NOT_CONVERTING, CONFLICT, CHANGED = "held", "may-hold", "not-converting", "conflict", "changed"
LEDGERLESS = "no-ledger"
"""The kinds of refusal: a reader that words them for an operator (the console) goes by these, not by the text."""


class ReconvertRefused(Exception):
    """What cannot be reconverted safely, and why; nothing was changed. ``kind`` says which check refused (one of
    the names above), so the console can put it in an operator's words without parsing the text."""

    def __init__(self, why: str, kind: str) -> None:
        super().__init__(why)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Reconverted:
    old: int
    new: int
    queued: list[outbox.Queued]
    """The deliveries it became, for a running forwarder to take in order (before what is stored after them)."""


def _named(items: Iterable[int] | Iterable[str]) -> str:
    """The first :data:`MAX_NAMED` ids or zaken, in order, and how many more."""
    ordered = sorted(items)  # type: ignore[type-var]
    more = f" and {len(ordered) - MAX_NAMED} more" if len(ordered) > MAX_NAMED else ""
    return ", ".join(map(str, ordered[:MAX_NAMED])) + more


def _start(conn: Any, delivery_id: int) -> Any:
    row = outbox.delivery(conn, delivery_id)
    if row is None:
        raise ReconvertRefused(f"delivery {delivery_id}: no such delivery", NOT_DEAD)
    if row["status"] != outbox.DEAD:
        raise ReconvertRefused(f"delivery {delivery_id} is {row['status']}, not a dead letter: only a delivery the "
                               "receiver refused is converted anew", NOT_DEAD)
    if superseded.by(conn, delivery_id) is not None:
        raise ReconvertRefused(superseded.refusal(conn, delivery_id) or "", SUPERSEDED)
    if row["target"] != outbox.NEW:
        raise ReconvertRefused(f"delivery {delivery_id} is not a canonical zaak message (target {row['target']}): "
                               "an original for the legacy downstream is sent as received, so replay it", NOT_ZAAK)
    if not row["zaak"]:  # a GGk envelope's is "": every envelope of the outbox would be taken as of one zaak
        raise ReconvertRefused(f"delivery {delivery_id} belongs to no zaak (a GGk envelope): there is no zaak to "
                               "take back; replay it (an envelope the chain refused goes again in a new envelope)",
                               NOT_ZAAK)
    return row


def _too_many(what: str) -> str:
    return (f"{what}: a reconvert converts at most {MAX_MESSAGES} messages, in one transaction that every arriving "
            "message waits for (the sidecar's render lock; on PostgreSQL the store's write lock); name fewer "
            "deliveries a call")


def _accepted(conn: Any, message_ids: Iterable[int]) -> dict[int, Any]:
    rows = {}
    for mid in message_ids:
        msg = outbox.message(conn, mid)
        if msg is not None and msg["status"] == outbox.ACCEPTED:
            rows[mid] = msg
    return rows


def involved(conn: Any, delivery_ids: Iterable[int]) -> tuple[dict[int, Any], set[str]]:
    """The accepted messages to convert anew and the zaken to take back for ``delivery_ids``: every message with a
    delivery to one of the zaken, and every zaak one of those messages delivers to, until nothing is added.
    Refused (:class:`ReconvertRefused`) unless each of their deliveries is a dead letter of a translate route."""
    named = list(delivery_ids)
    if len(named) > MAX_MESSAGES:
        raise ReconvertRefused(_too_many(f"{len(named):,} deliveries named"), TOO_MANY)
    zaken: set[str] = set()
    for delivery_id in named:
        zaken.add(str(_start(conn, delivery_id)["zaak"]))
    messages: dict[int, Any] = {}
    asked: set[str] = set()
    while zaken - asked:
        found = messages_of(conn, zaken - asked)
        asked |= zaken
        new = _accepted(conn, found - set(messages))
        messages.update(new)
        zaken |= {str(d["zaak"]) for mid in new for d in outbox.deliveries_of(conn, mid) if d["zaak"]}
        if len(messages) > MAX_MESSAGES:
            raise ReconvertRefused(_too_many(f"the zaken of these deliveries have more than {MAX_MESSAGES} messages"),
                                   TOO_MANY)
    _check(conn, messages, zaken)
    return messages, zaken


def messages_of(conn: Any, zaken: Iterable[str]) -> set[int]:
    """The messages with a delivery to one of ``zaken``: by schema 0007's index, :data:`ZAKEN_AT_ONCE` a query (the
    ids an operator names can be many thousands; PostgreSQL takes at most 65,535 parameters a statement)."""
    ordered = sorted(zaken)
    found: set[int] = set()
    for at in range(0, len(ordered), ZAKEN_AT_ONCE):
        part = ordered[at:at + ZAKEN_AT_ONCE]
        found |= {int(r[0]) for r in conn.execute(OF_ZAKEN.format(marks=",".join("?" * len(part))), part)}
    return found


def _check(conn: Any, messages: dict[int, Any], zaken: set[str]) -> None:
    modes = {mid for mid, msg in messages.items() if msg["mode"] != "translate"}
    if modes:
        raise ReconvertRefused(f"message(s) {_named(modes)} came on a route in mode {messages[min(modes)]['mode']}: "
                               "reconvert takes translate routes only (a shadow route's original went to the legacy "
                               "system, which this would not take back)", SHADOW)
    live: dict[str, list[int]] = {}
    for mid in messages:
        for d in outbox.deliveries_of(conn, mid):
            if d["status"] != outbox.DEAD:
                live.setdefault(d["status"], []).append(d["id"])
    if live:
        said = "; ".join(f"{status}: {_named(ids)}" for status, ids in sorted(live.items()))
        raise ReconvertRefused(
            f"zaak {_named(zaken)} has deliveries that are not dead letters ({said}): the receiver holds (or "
            "may yet take) the zaak as they left it, and the zaak ledger keeps no state from before a message, so "
            "converting anew here would render from a state the receiver does not hold. Only a zaak whose every "
            "delivery the receiver refused is taken back; wait for pending ones to end, or correct a delivered "
            "zaak at the receiver", HELD)
    elsewhere = _held_elsewhere(conn, messages, zaken)
    if elsewhere:
        raise ReconvertRefused(
            f"zaak {_named(elsewhere)} has no creeerZaak in the outbox that these messages sent (it was delivered and "
            "purged since, or the zaak came with a batch run's ledger, outbox import-ledger): the receiver may hold "
            "it, and taking it back would lose its state from the ledger for good and send it again as a "
            "creeerZaak; correct it at the receiver", MAY_HOLD)


def _held_elsewhere(conn: Any, messages: dict[int, Any], zaken: set[str]) -> list[str]:
    """The zaken the ledger holds that no creeerZaak of ``messages`` created (one an import marked does not count:
    gateway/deliver/imported.py): all their deliveries in the outbox may be dead, yet the receiver got them."""
    created: set[str] = set()
    for mid in messages:
        for delivery_id, zaak in conn.execute("SELECT id, zaak FROM delivery WHERE message_id = ? AND soap_action = ?",
                                              (mid, SOAP_ACTIONS[CREEER])):
            if zaak and imported.held(conn, int(delivery_id)) is None:
                created.add(str(zaak))
    return sorted(z for z in zaken - created
                  if conn.execute("SELECT 1 FROM zaak_state WHERE zaak = ?", (z,)).fetchone() is not None)


def reconvert(conn: sqlite3.Connection, delivery_ids: Iterable[int], convert: Convert,
              in_order: InOrder = None, expected: Collection[int] | None = None) -> list[Reconverted]:
    """Take the zaken of ``delivery_ids`` back and convert their messages anew with ``convert`` (rendering against
    the ledger tables on ``conn``), all in the caller's transaction; raises
    :class:`ReconvertRefused` (the caller rolls back) when that cannot be done safely or a message no longer
    converts. With ``expected`` (the messages a confirmation step showed) it is also refused when the zaken now have
    other messages: an operator never converts anew more than was shown."""
    messages, zaken = involved(conn, list(dict.fromkeys(delivery_ids)))
    if expected is not None and set(messages) != set(expected):
        raise ReconvertRefused(f"the zaken of these deliveries now have message(s) {_named(messages)}, where the "
                               f"confirmation showed {_named(expected)}: a message of the zaak came or changed "
                               "since; look again", CHANGED)
    for mid in messages:  # out of the way first: the new message takes the same sender identity and bytes
        conn.execute("UPDATE message SET status = ? WHERE id = ?", (f"superseding {mid}", mid))
    for zaak in sorted(zaken):
        _forget_state(conn, zaak)
    done: list[Reconverted] = []
    for mid, row in sorted(messages.items()):
        try:
            conversion = convert(row["route"], bytes(row["original"]))
        except FAILURES as exc:
            info = describe(exc, row["route"])
            raise ReconvertRefused(f"message {mid} does not convert with the mappings of now: {info}",
                                   NOT_CONVERTING) from exc
        try:
            accepted = accept_converted(conn, row, conversion, in_order)
        except outbox.ReferenceConflict as exc:  # another message holds its sender identity with other content
            raise ReconvertRefused(f"message {mid}, converted anew, is refused by the outbox: {exc}", CONFLICT) from exc
        if accepted.repeat or accepted.message_id == mid:
            raise ReconvertRefused(f"message {mid}: its conversion was taken as a re-send of message "
                                   f"{accepted.message_id}, not stored anew", CONFLICT)
        _supersede(conn, mid, accepted.message_id)
        done.append(Reconverted(mid, accepted.message_id, accepted.queued))
    outbox.bump_generation(conn)
    return done


def _forget_state(conn: Any, zaak: str) -> None:
    """Drop the zaak from the ledger: the receiver holds none of it (every delivery of it is dead), and a chain key
    left bound to it would make a later message of that chain a creeerZaak of an identificatie no mapping of now
    derives."""
    conn.execute("DELETE FROM zaak_state WHERE zaak = ?", (zaak,))
    conn.execute("DELETE FROM chain_key WHERE zaak = ?", (zaak,))


def _supersede(conn: Any, old: int, new: int) -> None:
    """The old message and its dead letters stay, saying what replaced them; replay refuses those dead letters."""
    conn.execute("UPDATE message SET status = ?, reason = ? WHERE id = ?",
                 (f"{superseded.STATUS}{new}", outbox.cap(f"converted anew as message {new} (outbox reconvert)"), old))
    for d in outbox.deliveries_of(conn, old):
        reason = f"superseded by message {new} (outbox reconvert, converted anew): was: {d['reason'] or ''}"
        conn.execute("UPDATE delivery SET reason = ? WHERE id = ?", (outbox.cap(reason), d["id"]))
        superseded.mark(conn, d["id"], new)
