"""What the console may show and what it must remember having shown.

A BSN is shown masked everywhere (``*******82``): enough to tell two clients apart on a page, not enough to
identify one. Each view of a payload (source or canonical XML, which hold names and care data) and each
client search is one entry in the audit log: who, when, what kind, which message; never the data itself. The log is a
JSON-lines file in data_dir, or on a PostgreSQL store the store's ``console_audit`` table (schema 0010), one record for
every replica: ``auditlog.py``.
"""

from __future__ import annotations

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
