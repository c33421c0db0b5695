"""The sidecar's door to its quarantine: whether a refused message is kept, and what the bound shows.

Apart from gateway/proxy/service.py because it is one job with its own rules (:mod:`.quarantine_bound` says why
there is a bound): room is reserved before a write, a body the quarantine keeps already is counted up without room
(storing it costs nothing new, so a full quarantine answers it as its first arrival was), and the figures /readyz
and the console show are counted anew from the store when stale, never only when the next refusal arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from gateway.deliver import outbox
from gateway.deliver.chain_faults import QuarantineFull
from gateway.deliver.committer import GroupCommitter

from .metrics import Metrics
from .quarantine_bound import QuarantineBound, totals

log = logging.getLogger("overstap.gateway")
STATE_WAIT_SECONDS = 2.0
"""How long /readyz and the console's health page wait for a count of the quarantine before showing the last one."""

__all__ = ["STATE_WAIT_SECONDS", "QuarantineDoor", "QuarantineFull"]


class QuarantineDoor:
    """The quarantine's part of the Gateway (a mixin): the bound in memory, checked, kept and shown."""

    quarantine: QuarantineBound
    committer: GroupCommitter
    metrics: Metrics
    _counting: set[asyncio.Future[None]]
    """Counts of the quarantine a caller stopped waiting for (:meth:`quarantine_state`), held until done."""

    async def quarantine_room(self, route: str, size: int, *, tell: bool = True) -> bool:
        """Reserve room for a refused body of ``size`` bytes (:mod:`.quarantine_bound`; :meth:`keep_refused`
        uses it); when there is none and ``tell``, :meth:`quarantine_refused`. The counts are in memory; the store
        is counted only when they are stale."""
        await self._recount_quarantine()
        if self.quarantine.take(size):
            return True
        if tell:
            self.quarantine_refused(route, size)
        return False

    async def _recount_quarantine(self) -> None:
        """Count the quarantine anew from the store when the in-memory counts are stale (one count at a time)."""
        now = time.monotonic()
        if self.quarantine.recount_due(now):
            self.quarantine.counted_at = now  # one count at a time: refusals arriving meanwhile use the counts of now
            try:
                self.quarantine.counted(*await self.committer.write(totals), now)
            except Exception as exc:  # the counts of before stand; the write of the entry will tell
                log.error("could not count the quarantine: %s", type(exc).__name__)

    def quarantine_changed(self) -> None:
        """This process purged or replayed quarantined messages (the console): count the store again at the next
        look, so /readyz and the next refusal see the room at once, not within the recount's second."""
        self.quarantine.counted_at = float("-inf")

    async def quarantine_state(self) -> dict[str, object]:
        """The bound's figures for /readyz and the console's health page, counted anew when stale: a purge or replay
        shows within a second while full, not only once the next refusal arrives. The count waits at most
        :data:`STATE_WAIT_SECONDS` (a purge holding the outbox's write lock for a minute would hold the page): then
        the figures of before, the count finishing behind them."""
        count = asyncio.ensure_future(self._recount_quarantine())
        self._counting.add(count)  # held until done: a task nobody references may be collected mid-count
        count.add_done_callback(self._counting.discard)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(count), STATE_WAIT_SECONDS)
        return self.quarantine.state()

    def quarantine_refused(self, route: str, size: int) -> None:
        """A refused message the full quarantine does not keep: counted and logged by size, never its payload."""
        self.metrics.rejected.labels(route, "quarantine_full").inc()
        q = self.quarantine
        log.warning("quarantine full (%d of %d messages, %d of %d bytes): refused message of %d bytes on route %s "
                    "not kept, answered StUF046 (offer it again later)", q.messages, q.max_messages, q.bytes,
                    q.max_bytes, size, route, extra={"route": route, "reason": "quarantine_full", "bytes": size})

    async def keep_refused(self, route: str, message: outbox.NewMessage) -> int | None:
        """Keep a refused message in quarantine: its id, or None when the store failed (logged; the refusal stands).
        A new body needs room (:meth:`quarantine_room`); with none, one the quarantine keeps already is counted up
        in its entry all the same, and a new one raises :class:`QuarantineFull` (nothing stored: offer it again)."""
        size = len(message.original)
        if not await self.quarantine_room(route, size, tell=False):
            try:
                kept = await self.committer.write(lambda c: outbox.keep_quarantined_again(c, message))
            except Exception as exc:  # not known to be kept: refused as new, and offered again
                log.error("could not look for a refused message in the full quarantine: %s", type(exc).__name__)
                kept = None
            if kept is None:
                self.quarantine_refused(route, size)
                raise QuarantineFull(route)
            return kept
        times = 0
        try:
            qid, times = await self.committer.write(lambda c: outbox.keep_quarantined(c, message))
        except Exception as exc:  # the refusal stands even when it cannot be kept
            log.error("could not keep refused message in quarantine: %s", type(exc).__name__)
            return None
        finally:  # more than once: the same bytes again, counted up in their entry, no new one
            self.quarantine.written(size, times == 1)
        return qid
