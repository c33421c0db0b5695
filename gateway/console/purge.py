"""Purge from the console: ``overstap outbox purge`` behind an operator's confirmation.

The console calls the outbox's own :func:`gateway.deliver.outbox.purge`, so the rules are the CLI's: delivered
deliveries (and, when asked, dead letters and quarantined messages) last touched before the cut-off go, and
messages left without a delivery with them; a pending delivery never goes. The preview counts the same
conditions on a read-only connection, so looking never blocks the outbox writer.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.deliver import outbox

MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Purge:
    """What to purge: older than ``days`` (0: everything finished), dead letters too, quarantine too."""

    days: int = 7
    dead: bool = False
    quarantined: bool = False

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> Purge | None:
        """From a form or query string; None when ``days`` is not a whole number of days in range."""
        days = fields.get("days", "7").strip()
        if not days.isdigit() or int(days) > MAX_DAYS:
            return None
        return cls(int(days), fields.get("dead") == "1", fields.get("quarantined") == "1")

    def statuses(self) -> list[str]:
        return [outbox.DELIVERED] + ([outbox.DEAD] if self.dead else [])

    def fields(self) -> dict[str, str]:
        return {"days": str(self.days), **({"dead": "1"} if self.dead else {}),
                **({"quarantined": "1"} if self.quarantined else {})}


def preview(conn: sqlite3.Connection, what: Purge, now: float | None = None) -> tuple[int, int]:
    """(deliveries, messages) the purge would remove now, counted on a read-only connection.

    The same conditions as :func:`gateway.deliver.outbox.purge` (the test compares preview and result), but
    read, not deleted and rolled back: a dry-run delete held the outbox's write lock for 53 s on a million
    rows, and every acknowledgement waits for that lock.
    """
    before = (time.time() if now is None else now) - what.days * 86400
    wanted = [s for s in what.statuses() if s != outbox.PENDING]
    marks = ",".join("?" * len(wanted))
    deliveries = conn.execute(f"SELECT count(*) FROM delivery WHERE status IN ({marks}) AND updated_at < ?",
                              (*wanted, before)).fetchone()[0]
    messages = conn.execute(
        "SELECT count(*) FROM message m WHERE m.status = 'accepted' AND m.last_received_at < ? AND NOT EXISTS"
        f" (SELECT 1 FROM delivery d WHERE d.message_id = m.id AND NOT (d.status IN ({marks}) AND d.updated_at < ?))",
        (before, *wanted, before)).fetchone()[0]
    if what.quarantined:
        messages += conn.execute("SELECT count(*) FROM message WHERE status = 'quarantined' AND last_received_at < ?",
                                 (before,)).fetchone()[0]
    return int(deliveries), int(messages)


def run(db_path: Path, what: Purge, now: float | None = None) -> tuple[int, int]:
    """Purge: (deliveries, messages) removed, in one transaction (the CLI's, so the same lock while it runs)."""
    before = (time.time() if now is None else now) - what.days * 86400
    with contextlib.closing(outbox.connect(db_path)) as conn, outbox.transaction(conn):
        return outbox.purge(conn, before=before, statuses=what.statuses(), quarantined=what.quarantined)
