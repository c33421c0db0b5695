"""The zaak ledger: what a receiver already holds, so the next message can be rendered against it.

A receiving zaaksysteem applies each message to the state it keeps; to send it a correct updateZaak
(old and new object), a status on the right zaak, or a GGk Du01 that points at its Di01, Overstap must
remember what it sent. The ledger holds chain keys -> zaak identificatie, the last delivered state of
each zaak, GGk envelope ids, referentienummers and the last tijdstipBericht per zender.

It sits above ``render`` and below ``pipeline``: render stays a pure function of (message, previous
state); the pipeline reads the ledger, renders, and writes the new state back in one transaction.
"""

from .base import Ledger, LedgerTransaction, MemoryLedger, next_tijdstip
from .sqlite import SqliteLedger

__all__ = ["Ledger", "LedgerTransaction", "MemoryLedger", "SqliteLedger", "next_tijdstip"]
