"""Replay: give dead letters and quarantined messages another go.

A dead delivery (canonical or legacy) is queued again as it was stored, under the same referentienummer.
A quarantined message never reached the ledger: it is converted again with the mappings of now and, if it
converts, planned like a fresh arrival.
The running gateway notices through the outbox ``generation`` counter and picks the work up.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gateway.pipeline import FAILURES, Conversion, describe

from . import outbox
from .plan import plan

Convert = Callable[[str, bytes], Conversion]
"""(route, original bytes) -> conversion with the route's current mappings; raises a FAILURES error."""


@dataclass(frozen=True, slots=True)
class Replayed:
    id: int
    ok: bool
    note: str


def replay_deliveries(conn: sqlite3.Connection, ids: Iterable[int]) -> list[Replayed]:
    """Queue dead (or delivered) deliveries again exactly as stored: the same payload, the same referentienummer.

    A canonical output was rendered once against the zaak ledger (profile zkn v2); rendering it again would
    give a new referentienummer and, since the ledger has moved on, another operation ("no change" or a W
    against the state it left). So a refused output goes again as it was, once the receiver's cause is fixed.
    """
    results: list[Replayed] = []
    for delivery_id in ids:
        row = outbox.delivery(conn, delivery_id)
        if row is None:
            results.append(Replayed(delivery_id, False, "no such delivery"))
            continue
        if row["status"] == outbox.PENDING:
            results.append(Replayed(delivery_id, False, "already pending"))
            continue
        outbox.requeue(conn, delivery_id)
        results.append(Replayed(delivery_id, True, "queued again as stored"))
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
