"""creeerZaak deliveries stored before ``outbox import-ledger`` brought in a ledger that holds their zaak.

Why: a dead letter is replayed as stored (gateway/deliver/replay.py). A creeerZaak rendered before the import was
rendered as if the receiver did not hold the zaak; once a batch run's ledger says it does (the receiver got the
batch run's outputs), replaying it sends the receiver a second creeerZaak for that zaak: refused as a duplicate
by a receiver that checks, a second zaak at one that does not. Re-rendering it is no answer either: its message's
effect is in the ledger already (the import took it over, alike or replaced), so a new render would find nothing
to create. So the import marks those deliveries (in the same transaction, in the ledger's ``remembered``), and
replay refuses them with a reason naming the zaak and what to do, unless forced. A mark on a delivery still
pending makes the forwarder hold it back when it would send it (gateway/deliver/forwarder.py): a dead letter with
:func:`not_sent`'s reason instead of a second creeerZaak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import outbox

KIND = "created-before-import"
"""``remembered`` kind: key a delivery id, value the zaak of its creeerZaak that an imported ledger holds."""

_MARK = ("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?) ON CONFLICT (kind, key) "
         "DO UPDATE SET value = excluded.value")  # SQLite's and PostgreSQL's


def mark(conn: Any, holds: Callable[[Iterable[str]], set[str]]) -> int:
    """Mark the creeerZaak deliveries not delivered whose zaak ``holds`` says the imported ledger holds (call it
    in the import's transaction); how many were marked."""
    from gateway.zaken.plan import CREEER, SOAP_ACTIONS  # here: a replay reads this module, and needs no zaken

    rows = conn.execute("SELECT id, zaak FROM delivery WHERE status IN (?, ?) AND zaak IS NOT NULL AND soap_action = ?",
                        (outbox.DEAD, outbox.PENDING, SOAP_ACTIONS[CREEER])).fetchall()  # index delivery_pending
    held = holds({str(zaak) for _, zaak in rows})
    marked = 0
    for delivery_id, zaak in rows:
        if zaak in held:
            conn.execute(_MARK, (KIND, str(delivery_id), zaak))
            marked += 1
    return marked


def held(conn: Any, delivery_id: int) -> str | None:
    """The zaak of delivery ``delivery_id`` when it is a creeerZaak marked here (one lookup by the primary key of
    ``remembered``), else None: asked by replay and by the forwarder just before it would send the delivery."""
    row = conn.execute("SELECT value FROM remembered WHERE kind = ? AND key = ?", (KIND, str(delivery_id))).fetchone()
    return None if row is None else str(row[0])


def forget(conn: Any, delivery_id: int) -> None:
    """Drop the mark of a delivery replayed with force: the forwarder sends it then, instead of holding it back."""
    conn.execute("DELETE FROM remembered WHERE kind = ? AND key = ?", (KIND, str(delivery_id)))


def refusal(conn: Any, delivery_id: int) -> str | None:
    """Why delivery ``delivery_id`` may not be replayed as stored (a creeerZaak of a zaak imported since), or None."""
    zaak = held(conn, delivery_id)
    if zaak is None:
        return None
    return (f"delivery {delivery_id} is a creeerZaak for zaak {zaak} rendered before 'outbox import-ledger' brought "
            "in a ledger that holds that zaak: the receiver has it from the batch run, and this creeerZaak again "
            "would be a second one; the zaak continues from the imported ledger, so leave this dead letter (or, if "
            "the receiver does not hold the zaak, pass force to send it anyway)")


def not_sent(zaak: str) -> str:
    """The dead letter's reason of a pending creeerZaak the forwarder held back because an import marked it."""
    return (f"not sent: a creeerZaak for zaak {zaak}, stored before 'outbox import-ledger' brought in a ledger that "
            "holds that zaak; the receiver has it from the batch run, so this would be a second creeerZaak. The "
            "zaak continues from the imported ledger: leave this dead letter (replay refuses it), or replay it "
            "with force if the receiver does not hold the zaak")
