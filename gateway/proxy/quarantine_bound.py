"""The bound on the quarantine: how many refused messages (and body bytes) the sidecar keeps before it stops
keeping more and answers "offer it again later" instead.

Why: every refused body is kept with its reason (nothing lost), so without a bound anyone who can post junk
grows the data folder without limit. Past the bound a refused message is not stored and not acknowledged:
the sender is answered StUF046 ("Opslaan bericht niet mogelijk", Tabel 4.1: offer it again) with HTTP 503 and
``Retry-After``, so it still holds the message. Refusing is not losing.

The check is on the hot path of every refusal, so it reads counts kept in memory, never a COUNT(*) per message:
they start from one count of the store, grow with each new quarantine entry this process writes, and are counted
anew from the store now and then (every :data:`RECOUNT_SECONDS`, and at most every :data:`FULL_RECOUNT_SECONDS`
while full), which takes in what a replay, a purge or another replica changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

RECOUNT_SECONDS = 30.0
"""How stale the counts may get at most (another replica's entries, an `outbox purge` beside the sidecar)."""
FULL_RECOUNT_SECONDS = 1.0
"""While full, how often the store is counted again, so a purge or replay makes room within a second."""

TOTALS_SQL = "SELECT count(*), coalesce(sum(length(original)), 0) FROM message WHERE status = 'quarantined'"


def totals(conn: Any) -> tuple[int, int]:
    """(messages, body bytes) in the quarantine, read from the store (SQLite or PostgreSQL)."""
    row = conn.execute(TOTALS_SQL).fetchone()
    return int(row[0]), int(row[1])


@dataclass(slots=True)
class QuarantineBound:
    """Counts of the quarantine kept in memory, and the caps they are held to (0: no cap of that kind).

    ``messages``/``bytes`` are what the store holds as last counted plus what this process wrote since;
    ``pending_*`` is the room reserved by refusals whose write is still under way, kept apart so that a count of the
    store (which cannot see them yet) does not wipe them out."""

    max_messages: int
    max_bytes: int
    messages: int = 0
    bytes: int = 0
    pending_messages: int = 0
    pending_bytes: int = 0
    counted_at: float = float("-inf")
    """time.monotonic() of the last count from the store (never: counted at the first check)."""

    def recount_due(self, now: float) -> bool:
        """Whether the in-memory counts should be read anew from the store before they are trusted."""
        age = now - self.counted_at
        return age >= RECOUNT_SECONDS or (self.full() and age >= FULL_RECOUNT_SECONDS)

    def counted(self, messages: int, size: int, now: float | None = None) -> None:
        self.messages, self.bytes = messages, size
        self.counted_at = time.monotonic() if now is None else now

    def room_for(self, size: int) -> bool:
        """Whether one more body of ``size`` bytes may be kept."""
        if self.max_messages and self.messages + self.pending_messages + 1 > self.max_messages:
            return False
        return not (self.max_bytes and self.bytes + self.pending_bytes + size > self.max_bytes)

    def full(self) -> bool:
        """At or past a cap: the next refused message (of any size) may not be kept."""
        return bool((self.max_messages and self.messages + self.pending_messages >= self.max_messages)
                    or (self.max_bytes and self.bytes + self.pending_bytes >= self.max_bytes))

    def take(self, size: int) -> bool:
        """Reserve room for one body of ``size`` bytes before it is written, so refusals in flight at once cannot
        all pass the check and together overrun the cap; False (nothing reserved) when there is none."""
        if not self.room_for(size):
            return False
        self.pending_messages += 1
        self.pending_bytes += size
        return True

    def written(self, size: int, new: bool) -> None:
        """A reservation's write is over: ``new``, it is a new entry and counts; else (the write failed, or it only
        counted up an entry of the same bytes) the room goes back."""
        self.pending_messages = max(0, self.pending_messages - 1)
        self.pending_bytes = max(0, self.pending_bytes - size)
        if new:
            self.messages += 1
            self.bytes += size

    def state(self) -> dict[str, object]:
        """What /readyz and the console show."""
        return {"messages": self.messages, "bytes": self.bytes, "max_messages": self.max_messages,
                "max_bytes": self.max_bytes, "full": self.full()}
