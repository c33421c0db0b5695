"""The render settings a ledger's zaken were rendered with, recorded in the ledger itself (``remembered``).

Why: the batch journal's fingerprint guards a resume, but a ledger also meets other runs: the shards of one
archive in a shared PostgreSQL ledger, and the sidecar that ``outbox import-ledger`` hands it to. A zaak rendered
under one zaaktype catalogue and continued under another reaches the receiver as two kinds of zaak. So a batch run
records each setting's fingerprint (gateway/render/fingerprint.py) as it begins, refusing a ledger that records
others, and the import compares the record with the sidecar's config. Kept apart from the values: no render import
here (the ledger sits below render's callers only by the data it keeps).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .base import Ledger

KIND = "render-settings"
"""``remembered`` kind of the one record (key ``""``): JSON {setting: fingerprint}. Never carried by an import."""


def from_text(found: str | None) -> dict[str, str] | None:
    """The record as ``remembered`` holds it (None: none)."""
    return None if found is None else {str(k): str(v) for k, v in json.loads(found).items()}


def differing(recorded: dict[str, str], wanted: dict[str, str]) -> list[str]:
    """The settings whose fingerprints differ, by name."""
    return sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))


def claim(first: Callable[[str, str], str], wanted: dict[str, str]) -> list[str]:
    """Record ``wanted`` in a ledger without a record; in one with a record, the settings that differ from it.
    ``first(kind, value)`` stores the value unless one is there and returns the one that is: one statement, so two
    shards starting at once on an empty PostgreSQL ledger cannot both find none (the second waits on the first's
    row)."""
    return differing(from_text(first(KIND, json.dumps(wanted, sort_keys=True))) or {}, wanted)


def claim_in(ledger: Ledger, wanted: dict[str, str]) -> list[str]:
    """:func:`claim` in one of ``ledger``'s own transactions (``convert --state``, which shares its folder with
    ``batch``): every backend runs them one at a time (SQLite ``BEGIN IMMEDIATE``, PostgreSQL an advisory lock),
    so the record is read and written as one step there too."""
    with ledger.transaction() as tx:
        def first(kind: str, value: str) -> str:
            found = tx.recall(kind, "")
            if found is None:
                tx.remember(kind, "", value)
                return value
            return found

        return claim(first, wanted)
