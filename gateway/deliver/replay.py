"""Replay: give dead letters and quarantined messages another go, converted with the mappings of now.

After a mapping fix, a dead canonical delivery is converted again from its stored original and
queued with the new payload under the same referentienummer; a legacy delivery is queued as it was.
A quarantined message is converted again and, if it now converts, planned like a fresh arrival.
The running gateway notices through the outbox ``generation`` counter and picks the work up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.pipeline import FAILURES, Conversion, describe

from . import outbox
from .plan import canonical_delivery, plan

Convert = Callable[[str, bytes], Conversion]
"""(route, original bytes) -> conversion with the route's current mappings; raises a FAILURES error."""


@dataclass(frozen=True, slots=True)
class Replayed:
    id: int
    ok: bool
    note: str


def replay_deliveries(conn: sqlite3.Connection, ids: Iterable[int], convert: Convert | None) -> list[Replayed]:
    """Queue dead (or delivered) deliveries again; canonical ones re-converted when ``convert`` is given."""
    results: list[Replayed] = []
    for delivery_id in ids:
        row = outbox.delivery(conn, delivery_id)
        if row is None:
            results.append(Replayed(delivery_id, False, "no such delivery"))
            continue
        if row["status"] == outbox.PENDING:
            results.append(Replayed(delivery_id, False, "already pending"))
            continue
        payload: bytes | None = None
        note = "queued again"
        if row["target"] == outbox.NEW and convert is not None:
            original = outbox.message(conn, row["message_id"])["original"]
            try:
                conversion = convert(row["route"], bytes(original))
            except FAILURES as exc:
                results.append(Replayed(delivery_id, False, f"still does not convert: {describe(exc, row['route'])}"))
                continue
            fresh = next((o for o in conversion.outputs if o.referentienummer == row["referentienummer"]), None)
            if fresh is None:
                results.append(Replayed(delivery_id, False, "the message now converts to other references "
                                        f"({', '.join(o.referentienummer for o in conversion.outputs)})"))
                continue
            payload = canonical_delivery(fresh).payload
            note = "queued again, converted with the current mappings" + (
                "" if payload == bytes(row["payload"]) else " (payload changed)")
        outbox.requeue(conn, delivery_id, payload)
        results.append(Replayed(delivery_id, True, note))
    outbox.bump_generation(conn)
    return results


def replay_quarantined(conn: sqlite3.Connection, ids: Iterable[int], convert: Convert) -> list[Replayed]:
    """Convert quarantined messages again; those that convert now are queued and leave the quarantine."""
    results: list[Replayed] = []
    for message_id in ids:
        row = outbox.message(conn, message_id)
        if row is None or row["status"] != outbox.QUARANTINED:
            results.append(Replayed(message_id, False, "no such quarantined message"))
            continue
        original = bytes(row["original"])
        try:
            conversion = convert(row["route"], original)
        except FAILURES as exc:
            results.append(Replayed(message_id, False, f"still does not convert: {describe(exc, row['route'])}"))
            continue
        b = conversion.bericht
        accepted = outbox.accept(conn, outbox.NewMessage(
            route=row["route"], mode=row["mode"], original=original, content_type=row["content_type"],
            soap_action=row["soap_action"], source_ref=b.identificatie, afzender=b.afzender, ontvanger=b.ontvanger,
            mapping=conversion.mapping.name), plan(row["mode"], conversion.outputs, original, row["content_type"],
                                                   row["soap_action"]))
        conn.execute("DELETE FROM message WHERE id = ?", (message_id,))
        results.append(Replayed(message_id, True, f"converted; now message {accepted.message_id} with "
                                f"{len(accepted.queued)} delivery(ies) queued"))
    outbox.bump_generation(conn)
    return results
