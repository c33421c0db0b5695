"""What the console may show and what it must remember having shown.

A BSN is shown masked everywhere (``*******82``): enough to tell two clients apart on a page, not enough to
identify one. Each view of a payload (source or canonical XML, which hold names and care data) and each
client search is one entry in the audit log: who, when, what kind, which message; never the data itself. The log is a
JSON-lines file in data_dir (:class:`AuditLog`), or on a PostgreSQL store the store's ``console_audit`` table
(:class:`PgAuditLog`, schema 0010), one record for every replica.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import deque
from pathlib import Path
from typing import Any

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
        line = json.dumps({"time": now(), "user": user, "action": action, **ids}, sort_keys=True)
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first (the audit page)."""
        if not self.path.is_file():
            return []
        with self.path.open(encoding="utf-8") as lines:
            return [json.loads(line) for line in reversed(deque(lines, maxlen=limit)) if line.strip()]


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class PgAuditLog(AuditLog):
    """The audit in the PostgreSQL store's ``console_audit`` (schema 0010): every replica writes and reads one log,
    so a replay through one replica is seen through any other. One insert per entry, on a pooled writing
    connection of the console's source (no store write lock). The entries are the file's, field for field."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def write(self, user: str, action: str, **ids: int | str | None) -> None:
        with self.source.writing() as conn:
            conn.execute("INSERT INTO console_audit (at, account, action, details) VALUES (?, ?, ?, ?::jsonb)",
                         (now(), user, action, json.dumps(ids, sort_keys=True)))

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self.source.writing() as conn:
            rows = conn.execute("SELECT at, account, action, details FROM console_audit ORDER BY id DESC LIMIT ?",
                                (limit,)).fetchall()
        return [{"time": r["at"], "user": r["account"], "action": r["action"], **json.loads(r["details"])}
                for r in rows]


def audit_log(path: Path, source: Any) -> AuditLog:
    """The store's table on PostgreSQL (``source`` writes there), else the JSON-lines file at ``path``."""
    from .source import PgSource

    return PgAuditLog(source) if isinstance(source, PgSource) else AuditLog(path)
