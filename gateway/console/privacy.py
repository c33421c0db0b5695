"""What the console may show and what it must remember having shown.

A BSN is shown masked everywhere (``*******82``): enough to tell two clients apart on a page, not enough to
identify one. Each view of a payload (source or canonical XML, which hold names and care data) and each
client search is one JSON line in the audit log: who, when, what kind, which message; never the data itself.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

from gateway.model import bsn_is_valid, mask_bsns


def mask(value: str | None, keep: int = 2) -> str:
    """``123456782`` -> ``*******82``; empty stays empty."""
    if not value:
        return ""
    return "*" * max(0, len(value) - keep) + value[-keep:]


def valid_bsn(value: str) -> bool:
    """Nine ASCII digits passing the elfproef: a typo is refused before it reaches a query or the audit log (and
    so is ``²``, which ``isdigit`` passes and ``int`` refuses, or digits of another script, which no BSN has)."""
    return value.isascii() and bsn_is_valid(value)


def bsn_like(value: str) -> bool:
    """Nine decimal digits of any script passing the elfproef: what is masked when shown, wider than a search."""
    return bsn_is_valid(value)


def mask_text(text: str | None) -> str:
    """Free text (a downstream's refusal reason, a shadow difference) with every BSN in it masked, however it is
    written (:func:`gateway.model.checks.mask_bsns`: the one rule explain and the tooling use too)."""
    return mask_bsns(text or "")


class AuditLog:
    """Appends one JSON line per audited view; a lock keeps lines whole when requests run in threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def write(self, user: str, action: str, **ids: int | str | None) -> None:
        line = json.dumps({"time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "user": user,
                           "action": action, **ids}, sort_keys=True)
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
