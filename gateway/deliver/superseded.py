"""Dead letters a re-conversion superseded (``overstap outbox reconvert``, gateway/deliver/reconvert.py).

Why a mark: such a dead letter stays in the outbox, visible with its reason (nothing is lost), but its payload was
rendered by the mapping the receiver refused, against a zaak state the ledger no longer holds. Replayed as stored
it would go on top of the zaak converted anew: so replay refuses it, even forced, and ``--all-dead`` passes it by.
The mark lives in the ledger's ``remembered`` (as gateway/deliver/imported.py's), so no schema change is needed.
"""

from __future__ import annotations

from typing import Any

KIND = "superseded-by"
"""``remembered`` kind: key a delivery id, value the id of the message that replaced the delivery's message."""

_MARK = ("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?) ON CONFLICT (kind, key) "
         "DO UPDATE SET value = excluded.value")  # SQLite's and PostgreSQL's


def mark(conn: Any, delivery_id: int, message_id: int) -> None:
    """Remember that delivery ``delivery_id`` was superseded by message ``message_id`` (in the reconvert's write)."""
    conn.execute(_MARK, (KIND, str(delivery_id), str(message_id)))


def by(conn: Any, delivery_id: int) -> int | None:
    """The message that superseded delivery ``delivery_id``, or None (one lookup by ``remembered``'s key)."""
    row = conn.execute("SELECT value FROM remembered WHERE kind = ? AND key = ?", (KIND, str(delivery_id))).fetchone()
    return None if row is None else int(row[0])


def all_marked(conn: Any) -> set[int]:
    """Every superseded delivery: ``replay --all-dead`` leaves them out."""
    return {int(r[0]) for r in conn.execute("SELECT key FROM remembered WHERE kind = ?", (KIND,))}


def refusal(conn: Any, delivery_id: int) -> str | None:
    """Why delivery ``delivery_id`` may not be replayed (a re-conversion superseded it), or None."""
    message = by(conn, delivery_id)
    if message is None:
        return None
    return (f"delivery {delivery_id} was superseded by message {message} ('outbox reconvert' converted its source "
            "anew after the receiver refused it): sent as stored it would go on top of the zaak converted anew; "
            f"see message {message} instead")


STATUS = "superseded by "
"""How a superseded message's status begins (gateway/deliver/reconvert.py): the id of the message that replaced it
follows."""


def replacing(status: str) -> int | None:
    """The message that replaced a message of status ``status``, or None when it was not superseded (the console
    links it, and offers no replay of its dead letters: replay refuses them)."""
    rest = status[len(STATUS):] if status.startswith(STATUS) else ""
    return int(rest) if rest.isdigit() else None
