"""Purge from the console: ``overstap outbox purge`` behind an operator's confirmation.

The console calls the outbox's own :func:`gateway.deliver.outbox.purge`, so the rules are the CLI's: delivered
deliveries (and, when asked, dead letters and quarantined messages) last touched before the cut-off go, and
messages left without a delivery with them; a pending delivery never goes. The preview runs the same purge in
a transaction that is rolled back, so the numbers it shows are exactly what "Yes, purge" removes at that
moment, not a second set of SQL conditions that could drift from the real one.
"""

from __future__ import annotations

import contextlib
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


def run(db_path: Path, what: Purge, *, dry: bool, now: float | None = None) -> tuple[int, int]:
    """(deliveries, messages) removed by the purge; with ``dry`` counted and rolled back, nothing removed."""
    before = (time.time() if now is None else now) - what.days * 86400
    with contextlib.closing(outbox.connect(db_path)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            removed = outbox.purge(conn, before=before, statuses=what.statuses(), quarantined=what.quarantined)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ROLLBACK" if dry else "COMMIT")
    return removed
