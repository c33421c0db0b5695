"""Fingerprints of the render settings, one per setting: what a batch ledger records it was rendered with.

Why per setting: ``outbox import-ledger`` and a batch shard meeting another's ledger must refuse a ledger rendered
with other settings (another zaaktype catalogue would leave two zaaktypen for one kind of zaak at the receiver),
and the refusal has to name what differs (``zaaktypen``, ``ontvanger``), which one hash of everything cannot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from .settings import RenderSettings


def digest(value: Any) -> str:
    """A short hash of a settings value (dataclasses as dicts, a drop's frozenset sorted)."""
    text = json.dumps(value, sort_keys=True, default=sorted)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def parts(settings: RenderSettings | None) -> dict[str, str]:
    """Setting name -> :func:`digest` of its value; None: the defaults."""
    values = dataclasses.asdict(settings or RenderSettings())
    return {name: digest(value) for name, value in values.items()}


def whole(settings: RenderSettings | None) -> str | None:
    """One fingerprint of all settings (the batch journal's), None for the defaults."""
    if settings is None or settings == RenderSettings():
        return None
    return digest(dataclasses.asdict(settings))
