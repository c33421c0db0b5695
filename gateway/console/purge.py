"""Purge from the console: ``overstap outbox purge`` behind an operator's confirmation.

The console calls the outbox's own :func:`gateway.deliver.outbox.purge`, so the rules are the CLI's: delivered
deliveries (and, when asked, dead letters and quarantined messages) last touched before the cut-off go, and
messages left without a delivery with them; a pending delivery never goes. The preview counts the same
conditions on a read-only connection, so looking never blocks the outbox writer.

"Yes, purge" purges with the preview's own cut-off (carried back in the confirm form), never a newer one: a row
that finished or was touched after the preview has a later ``updated_at`` and stays. And should the outbox
still have changed so that the purge would remove more than the preview counted (a quarantined message converted
again into an accepted one without deliveries), the purge is rolled back and refused: an operator never removes
what they were not shown.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.deliver import outbox

MAX_DAYS = 3650
_DAYS = re.compile(r"[0-9]{1,4}")
_COUNT = re.compile(r"[0-9]{1,18}")
_TIME = re.compile(r"[0-9]{1,16}(\.[0-9]{1,20})?")
"""A cut-off as the preview writes it (``repr`` of a float epoch): ASCII digits only, no exponent, sign or NaN."""


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
        if not _DAYS.fullmatch(days) or int(days) > MAX_DAYS:  # isdigit() takes '²', which int() refuses
            return None
        return cls(int(days), fields.get("dead") == "1", fields.get("quarantined") == "1")

    def statuses(self) -> list[str]:
        return [outbox.DELIVERED] + ([outbox.DEAD] if self.dead else [])

    def fields(self) -> dict[str, str]:
        return {"days": str(self.days), **({"dead": "1"} if self.dead else {}),
                **({"quarantined": "1"} if self.quarantined else {})}


@dataclass(frozen=True, slots=True)
class Previewed:
    """What the operator was shown and confirms: the preview's cut-off and its counts, carried in the confirm form
    (a CSRF-protected POST), so "Yes, purge" removes what was counted then, not what the clock says at the click."""

    before: float
    deliveries: int
    messages: int

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> Previewed | None:
        """From the confirm form; None when a field is missing or not as the preview wrote it."""
        before, deliveries, messages = (fields.get(k, "") for k in ("before", "deliveries", "messages"))
        if not (_TIME.fullmatch(before) and _COUNT.fullmatch(deliveries) and _COUNT.fullmatch(messages)):
            return None
        cut = float(before)
        return cls(cut, int(deliveries), int(messages)) if math.isfinite(cut) else None

    def fields(self) -> dict[str, str]:
        return {"before": repr(self.before), "deliveries": str(self.deliveries), "messages": str(self.messages)}


class Exceeded(Exception):
    """The purge would have removed more than its preview counted; it was rolled back."""

    def __init__(self, removed: tuple[int, int]) -> None:
        super().__init__(f"would remove {removed[0]} deliveries and {removed[1]} messages")
        self.removed = removed


def cut_off(what: Purge, now: float | None = None) -> float:
    """Rows last touched before this go: ``days`` before now."""
    return (time.time() if now is None else now) - what.days * 86400


def preview(conn: Any, what: Purge, before: float) -> tuple[int, int]:
    """(deliveries, messages) the purge with this cut-off would remove, counted on a read-only connection.

    The same conditions as :func:`gateway.deliver.outbox.purge` (the test compares preview and result), but
    read, not deleted and rolled back: a dry-run delete held the outbox's write lock for 53 s on a million
    rows, and every acknowledgement waits for that lock.
    """
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


def run(connect: Callable[[], Any], what: Purge, seen: Previewed) -> tuple[int, int]:
    """Purge with the preview's cut-off: (deliveries, messages) removed, in one transaction (the CLI's, so the
    same lock while it runs: the SQLite file's, or the PostgreSQL store's write lock every replica takes);
    :class:`Exceeded`, and nothing removed, when that is more than the preview counted. ``connect``: a writing
    connection to the outbox (the console's source)."""
    with contextlib.closing(connect()) as conn, outbox.transaction(conn):
        removed = outbox.purge(conn, before=seen.before, statuses=what.statuses(), quarantined=what.quarantined)
        if removed[0] > seen.deliveries or removed[1] > seen.messages:
            raise Exceeded(removed)  # the transaction rolls back
        return removed
