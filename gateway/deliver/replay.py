"""Replay: give dead letters and quarantined messages another go.

A dead delivery (canonical or legacy) is queued again as it was stored, under the same referentienummer: a
canonical output was rendered once against the zaak ledger (profile zkn v2), and rendering it again would give
a new referentienummer and, since the ledger has moved on, another operation. The one exception is a GGk envelope
the chain holds (it refused it in a StUF Fo03 at once or a Fo01 later, or it was delivered): the chain answers its
UUID with what it answered before, so it goes in a new envelope, stamped through the ledger before the write
(:func:`stamp`, gateway/deliver/restamp.py).

A quarantined message never reached the ledger: it is converted again with the mappings of now and, if it
converts, planned like a fresh arrival. The running gateway notices through the outbox ``generation`` counter
and picks the work up.

Replay is for dead letters. A delivery that was delivered is not sent again unless the caller forces it: a receiver
without de-duplication would apply it a second time, and after what went out since (a creeerZaak after the zaak's
status update), out of order (review of the sidecar, finding 5). Every way in (``POST /admin/replay``, the console,
``overstap outbox replay``) comes through :func:`prepare`, so the rule is this one.

A replay works in two steps so it never holds up acknowledgements: :func:`prepare` reads (and, for a
quarantined message without a ledger, converts) with no write lock held, and the :class:`Prepared` steps are
then written in one short transaction per chunk, each checking that its row did not change meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.ledger import LedgerTransaction
from gateway.ledger.staged import ConnLedger

from . import imported, outbox, restamp, superseded
from .outbox import ID_RANGE as ID_RANGE  # re-exported: the CLI's id arguments
from .unmapped import UnmappedInput

if TYPE_CHECKING:
    from gateway.pipeline import Conversion

# The pipeline, the renderers and the mappings are imported by the quarantined replay, which converts: a dead
# letter goes as stored (``overstap outbox replay ID``: 0.60-0.87 s of CPU a run before session 33).
Convert = Callable[[str, bytes], "Conversion"]
"""(route, original bytes) -> conversion with the route's current mappings; raises a FAILURES error."""
Targets = Container[tuple[str, str]] | None
"""The (route, target) pairs a configuration delivers to, or None: unknown."""
InOrder = Mapping[str, Container[str]] | None
"""Route -> its targets whose downstream takes one order (``order: created``), or None: none do."""


@dataclass(frozen=True, slots=True)
class Replayed:
    id: int
    ok: bool
    note: str


CHUNK = 50
"""Ids prepared, then written, at a time: bounds how long one write transaction takes."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A replay read and converted, to be written: ``apply`` makes it so (or says why it no longer can)."""

    id: int
    quarantined: bool
    outcome: Replayed | None = None
    """Settled already (nothing to write): not found, still pending, does not convert."""
    seen_status: str | None = None
    conversion: Conversion | None = None
    envelope: restamp.Envelope | None = None
    """A GGk envelope the chain holds already (gateway/deliver/restamp.py): it goes again in a new envelope."""
    stamp: restamp.NewStamp | None = None
    """That new envelope's UUID and tijdstipBericht, taken from the ledger before the write (:func:`stamp`)."""
    forced: bool = False
    """Asked with force: a creeerZaak stored before an import of its zaak goes too (gateway/deliver/imported.py)."""
    renewal: bool = False
    """The sidecar paying the renewal a StUF019 dead letter is owed (gateway/deliver/restamp.py ``owe_renewal``):
    written only by the one that claims it (:func:`gateway.deliver.outbox.claim_renewal`)."""


def chunks(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    chunk: list[int] = []
    for i in ids:
        chunk.append(i)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


DELIVERED_REFUSED = ("already delivered: sending it again could apply it twice, or after what went out since; "
                     "pass force to send it anyway")


NOT_OWED = "owes no renewal: its envelope is the zender's latest (a dead letter as any Fo03)"
RENEWED_MEANWHILE = "renewed or replayed meanwhile: it goes on in the envelope that took its place"


def _prepare_delivery(conn: sqlite3.Connection, delivery_id: int, force: bool, targets: Targets,
                      renewal: bool = False) -> Prepared:
    row = outbox.delivery(conn, delivery_id) if ID_RANGE[0] <= delivery_id <= ID_RANGE[1] else None
    if row is None:
        return Prepared(delivery_id, False, Replayed(delivery_id, False, "no such delivery"))
    if renewal and not row["renewal_owed"]:  # paid already (another replica, a replay), or never owed
        return Prepared(delivery_id, False, Replayed(delivery_id, False, NOT_OWED if row["status"] == outbox.DEAD
                                                     else RENEWED_MEANWHILE))
    if targets is not None and (row["route"], row["target"]) not in targets:
        return Prepared(delivery_id, False, Replayed(delivery_id, False, f"route {row['route']!r} has no "
                        f"{row['target']} downstream in this configuration: queued, it would wait for ever"))
    if row["status"] == outbox.PENDING:
        return Prepared(delivery_id, False, Replayed(delivery_id, False, "already pending"))
    if row["status"] == outbox.DELIVERED and not force:
        return Prepared(delivery_id, False, Replayed(delivery_id, False, DELIVERED_REFUSED))
    envelope = restamp.read(bytes(row["payload"]), row["referentienummer"]) if restamp.chain_holds(row) else None
    return Prepared(delivery_id, False, seen_status=row["status"], envelope=envelope, forced=force, renewal=renewal)


def stamp(steps: Iterable[Prepared], tx: LedgerTransaction, now: datetime | None = None) -> list[Prepared]:
    """Give each step that needs a new envelope its UUID and tijdstipBericht from the ledger transaction ``tx`` (the
    zender's counter, as a fresh envelope's); the others as they are."""
    now = datetime.now() if now is None else now  # the clock a fresh envelope is stamped with (Converter.clock)
    return [replace(s, stamp=restamp.take(s.envelope, tx, now)) if s.envelope is not None and s.outcome is None
            else s for s in steps]


def needs_stamp(steps: Iterable[Prepared]) -> bool:
    """Whether any step goes in a new envelope (then the ledger's counter is wanted before the write)."""
    return any(s.envelope is not None and s.outcome is None for s in steps)


def _prepare_quarantined(conn: sqlite3.Connection, message_id: int, convert: Convert) -> Prepared:
    from gateway.pipeline import FAILURES, describe

    row = outbox.message(conn, message_id) if ID_RANGE[0] <= message_id <= ID_RANGE[1] else None
    if row is None or row["status"] != outbox.QUARANTINED:
        return Prepared(message_id, True, Replayed(message_id, False, "no such quarantined message"))
    try:
        conversion = convert(row["route"], bytes(row["original"]))
    except FAILURES as exc:
        return Prepared(message_id, True, Replayed(message_id, False,
                                                   f"still does not convert: {describe(exc, row['route'])}"))
    return Prepared(message_id, True, seen_status=outbox.QUARANTINED, conversion=conversion)


def prepare(conn: sqlite3.Connection, ids: Iterable[int], convert: Convert | None = None,
            quarantined: bool = False, *, force: bool = False, targets: Targets = None,
            renewal: bool = False) -> list[Prepared]:
    """Read (and convert quarantined messages); ``convert`` is required for quarantined messages only. A delivered
    delivery is refused (:data:`DELIVERED_REFUSED`) unless ``force``.

    A delivery named twice is prepared once: both were prepared as dead, the first queued it, and the second was
    answered "changed while it was being converted; replay it again" (``{"ids": [7, 7]}``, or ``replay 7
    --all-dead``). Quarantined ids are converted as often as named (tests replay them many times over as a load).
    ``targets`` are the (route, target) pairs the configuration delivers to (None: not known here, as for a CLI
    without ``--config``): a delivery of another is refused, not queued to wait for a downstream that is gone.
    ``renewal``: the sidecar paying the renewals these StUF019 dead letters are owed; one not owed (any more) is
    left as it is (:data:`NOT_OWED`, :data:`RENEWED_MEANWHILE`).
    """
    if quarantined:
        assert convert is not None, "quarantined messages are replayed by converting them"
        return [_prepare_quarantined(conn, i, convert) for i in ids]
    return [_prepare_delivery(conn, i, force, targets, renewal) for i in dict.fromkeys(ids)]


def _apply_delivery(conn: sqlite3.Connection, step: Prepared) -> Replayed:
    row = outbox.delivery(conn, step.id)
    if row is None or row["status"] != step.seen_status:
        return Replayed(step.id, False, "changed while it was being converted; replay it again")
    if step.renewal and not outbox.claim_renewal(conn, step.id):  # the debt is paid here, by one writer only
        return Replayed(step.id, False, RENEWED_MEANWHILE)
    refused = superseded.refusal(conn, step.id)  # even forced: it would go on top of the zaak converted anew
    if refused is not None:
        return Replayed(step.id, False, refused)
    refused = imported.refusal(conn, step.id) if not step.forced else None  # in the write: no import in between
    if refused is not None:
        return Replayed(step.id, False, refused)
    if step.forced:  # else the forwarder holds it back again
        imported.forget(conn, step.id)
    if step.envelope is not None:
        if step.stamp is None:  # never the old envelope again: the chain refuses its UUID (IB216, CC08)
            return Replayed(step.id, False, "needs a new envelope, which this replay did not stamp")
        if row["referentienummer"] != step.envelope.referentienummer:
            return Replayed(step.id, False, "changed while it was being prepared; replay it again")
        try:
            restamp.store(conn, step.id, bytes(row["payload"]), step.envelope, step.stamp, row["reason"])
        except ValueError as exc:  # not an envelope as gateway/render/ggk.py writes it: nothing was written
            return Replayed(step.id, False, str(exc))
        outbox.requeue(conn, step.id)
        return Replayed(step.id, True, f"queued again in a new envelope {step.stamp.referentienummer} (was "
                        f"{step.envelope.referentienummer}): the chain holds the old one")
    outbox.requeue(conn, step.id)
    forced = " (it had been delivered: sent again on force)" if step.seen_status == outbox.DELIVERED else ""
    return Replayed(step.id, True, "queued again as stored" + forced)


def _apply_quarantined(conn: sqlite3.Connection, step: Prepared, in_order: InOrder) -> Replayed:
    row = outbox.message(conn, step.id)
    conversion = step.conversion
    assert conversion is not None
    if row is None or row["status"] != outbox.QUARANTINED:
        return Replayed(step.id, False, "no longer quarantined")
    try:
        accepted = accept_converted(conn, row, conversion, in_order)
    except outbox.ReferenceConflict as exc:
        return Replayed(step.id, False, f"still refused: {exc}")
    conn.execute("DELETE FROM message WHERE id = ?", (step.id,))
    return Replayed(step.id, True, f"converted; now message {accepted.message_id} with "
                    f"{len(accepted.queued)} delivery(ies) queued")


def accept_converted(conn: sqlite3.Connection, row: Any, conversion: Conversion, in_order: InOrder) -> outbox.Accepted:
    """Store message ``row``'s original as converted now (``conversion``) and queue what it became, planned as a
    fresh arrival of its route: a quarantined replay and a re-conversion (gateway/deliver/reconvert.py) alike. A
    retour is checked against every ledger route of the outbox, as the sidecar checks an arrival (one Du01 per
    Di01): these commands may run with no configuration to name the routes."""
    from gateway.pipeline import sender_of
    from gateway.render.ggk import is_retour

    from .plan import plan

    original = bytes(row["original"])
    sender, retour = sender_of(conversion.bericht, conversion.source.envelope_info), is_retour(conversion.bericht)
    message = outbox.NewMessage(
        route=row["route"], mode=row["mode"], original=original, content_type=row["content_type"],
        soap_action=row["soap_action"], source_ref=sender.referentienummer, afzender=sender.afzender,
        ontvanger=sender.ontvanger, mapping=conversion.mapping.name,
        source_key=outbox.source_key(sender.afzender, sender.referentienummer, sender.dagtekening, retour=retour),
        content_sha256=conversion.bericht.digest(), unmapped=_unmapped(conversion),
        shared_routes=outbox.ledger_routes(conn) if retour and row["mode"] in outbox.LEDGER_MODES else ())
    return outbox.accept(conn, message, plan(row["mode"], conversion.outputs, original, row["content_type"],
                                             row["soap_action"], (in_order or {}).get(row["route"], ())))


def _unmapped(conversion: Conversion) -> str | None:
    """Where the message's unmapped input is, as the outbox keeps it (paths and lines)."""
    found = UnmappedInput.of(conversion.unmapped)
    return found.encode() if found is not None else None


def apply(conn: sqlite3.Connection, steps: Iterable[Prepared], in_order: InOrder = None) -> list[Replayed]:
    """Write prepared replays (inside the caller's transaction) and tell the running gateway. ``in_order`` maps a
    route to its targets that take one order (``RouteConfig.in_order``): a converted message is planned so."""
    results: list[Replayed] = []
    for step in steps:
        if step.outcome is not None:
            results.append(step.outcome)
        elif step.quarantined:
            results.append(_apply_quarantined(conn, step, in_order))
        else:
            results.append(_apply_delivery(conn, step))
    outbox.bump_generation(conn)
    return results


def replay_deliveries(conn: sqlite3.Connection, ids: Iterable[int], *, force: bool = False,
                      tx: LedgerTransaction | None = None) -> list[Replayed]:
    """Queue dead deliveries (delivered ones too with ``force``) again as stored: the same payload, the same
    referentienummer, but for a GGk envelope the chain holds, which goes in a new one stamped through ``tx``
    (default: the ledger tables of the SQLite outbox ``conn``).

    All in the caller's transaction, for callers with no one waiting to write (tests, tools).
    """
    steps = prepare(conn, ids, force=force)
    return apply(conn, stamp(steps, tx if tx is not None else ConnLedger(conn, create=False).direct))


def replay_quarantined(conn: sqlite3.Connection, ids: Iterable[int], convert: Convert,
                       in_order: InOrder = None) -> list[Replayed]:
    """Convert quarantined messages again; those that convert now are queued and leave the quarantine."""
    return apply(conn, prepare(conn, ids, convert, quarantined=True), in_order)
