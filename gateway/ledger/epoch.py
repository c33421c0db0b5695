"""The zaak ledger's epoch: a token that every write to the ledger from outside the sidecar's own renders moves.

Why: a SQLite sidecar renders each message against the ledger *ahead of* its commit (gateway/ledger/staged.py).
``overstap outbox import-ledger`` writes the same tables from another process; a message rendered before the import
and committed after it was rendered from the state the import replaced (a second creeerZaak for a zaak the batch
run created, and the import's state overwritten by that render). So the import moves the epoch in its
transaction, the sidecar notes the epoch it rendered under, and the commit of its outputs checks that the epoch
is still that one (inside the commit's write lock, so nothing can move it in between): if not, the message is
rendered again against what the ledger holds now. Kept in ``remembered``, so neither store needs a new table.
"""

from __future__ import annotations

import uuid
from typing import Any

KIND = "ledger-epoch"
"""``remembered`` kind of the one row holding the epoch (key ``""``); no render remembers values under it."""

_READ = f"SELECT value FROM remembered WHERE kind = '{KIND}' AND key = ''"
_MOVE = (f"INSERT INTO remembered (kind, key, value) VALUES ('{KIND}', '', ?) ON CONFLICT (kind, key) "
         "DO UPDATE SET value = excluded.value")  # SQLite's and PostgreSQL's


class LedgerMoved(Exception):
    """The ledger's epoch moved between a message's render and its commit: render it again."""


def current(conn: Any) -> str:
    """The epoch of the ledger reached through ``conn`` (``""`` before anything moved it)."""
    row = conn.execute(_READ).fetchone()
    return str(row[0]) if row is not None else ""


def move(conn: Any) -> None:
    """Move the epoch, inside the caller's transaction that writes the ledger."""
    conn.execute(_MOVE, (uuid.uuid4().hex,))


def check(conn: Any, rendered_under: str) -> None:
    """Raise :class:`LedgerMoved` when the ledger's epoch is no longer ``rendered_under`` (call it inside the
    transaction that stores the render, before anything of it is written)."""
    if current(conn) != rendered_under:
        raise LedgerMoved(rendered_under)
