"""Which GGk envelope took the place of which: the ledger's ``ggk-replaced`` entries (session 33 moved them here).

A replay of an envelope the chain holds sends it again in a new one (gateway/deliver/restamp.py) and remembers
old UUID -> new UUID. The renderer follows it to point a Du01 at the Di01 the chain got; ``overstap outbox show``
names the envelopes a delivery replaced. Here in the ledger, not in gateway/render/ggk_chain.py, so that ``show``
reads them without importing the renderers (~0.45 s of CPU a run).
"""

from __future__ import annotations

from typing import Any

from .base import LedgerTransaction

REPLACED = "ggk-replaced"
"""The ledger's kind for "envelope UUID -> the UUID of the envelope a replay sent in its place" (the chain refused
the first, gateway/deliver/restamp.py): a Du01 then points at the Di01 the chain got, and a Fo01 about the old
UUID is known as about a delivery sent again since."""
MAX_HOPS = 100
"""Replacements followed at most (each is an operator's replay of a refused envelope)."""


def sent_last(tx: LedgerTransaction, referentienummer: str) -> str:
    """The UUID under which the envelope first sent as ``referentienummer`` went out last: itself unless a replay
    sent it again in a new envelope (one indexed read when it did not)."""
    found = referentienummer
    for _ in range(MAX_HOPS):
        newer = tx.recall(REPLACED, found)
        if newer is None:
            break
        found = newer
    return found


def replaced(conn: Any, ref: str) -> list[str]:
    """The UUIDs of the envelopes the one sent as ``ref`` replaced, newest first: what ``outbox show`` names once
    the delivery's reason is gone (delivered). Few rows: one a replay in a new envelope."""
    earlier: list[str] = []
    for _ in range(MAX_HOPS):
        row = conn.execute("SELECT key FROM remembered WHERE kind = ? AND value = ?",
                           (REPLACED, earlier[-1] if earlier else ref)).fetchone()
        if row is None:
            break
        earlier.append(str(row[0]))
    return earlier
