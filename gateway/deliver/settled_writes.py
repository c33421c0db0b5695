"""What an attempt's settled outcome becomes once its write is committed: counted for the metrics (never before
COMMIT, and never as what it was not: an outcome the delivery was settled meanwhile is counted apart), and a dead
letter the chain answered StUF019 handed on to be renewed; the renewals a killed process or replica owed, paid.

Apart from gateway/deliver/forwarder.py, which decides what an outcome is and when a key is tried next: this is the
bookkeeping after that decision, the part that waits for the committer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import outbox, restamp
from .committer import GroupCommitter
from .outbox import Queued
from .outcome import DELIVERED, Outcome

log = logging.getLogger("overstap.forwarder")
RENEW_GRACE = 10.0
"""Seconds a renewal owed on a StUF019 dead letter waits before another replica's poll pays it: the replica that
wrote it pays it within milliseconds of its COMMIT, and one that died leaves it (docs/ggk-profile.md 5.2)."""


class Observer:
    """Hooks for metrics; the defaults do nothing."""

    def delivered(self, item: Queued, outcome: Outcome) -> None: ...

    def retried(self, item: Queued, outcome: Outcome, delay: float) -> None: ...

    def dead(self, item: Queued, outcome: Outcome) -> None: ...

    def settled_meanwhile(self, item: Queued, outcome: Outcome) -> None:
        """An attempt whose outcome was not written: its delivery was settled another way while it was out."""


class SettledWrites:
    """The forwarder's writes of settled statuses and what follows their COMMIT; a base of
    :class:`~gateway.deliver.forwarder.Forwarder`, which sets the attributes below."""

    committer: GroupCommitter
    observer: Observer
    renew: Callable[[int], Awaitable[bool]] | None
    stopping: bool
    _loop: asyncio.AbstractEventLoop | None
    _rescans: set[asyncio.Task[None]]
    _waiters: dict[int, list[asyncio.Future[Outcome]]]
    _watched: set[int]
    _renewing: set[int]
    """Deliveries whose renewal this process is paying now: asked once here, however often a look finds them."""
    renew_grace: float = RENEW_GRACE

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError  # the forwarder's reader thread

    async def renew_owed(self, grace: float) -> int:
        """Pay the renewals owed on StUF019 dead letters (gateway/deliver/restamp.py ``owe_renewal``) that were
        written more than ``grace`` seconds ago: at start every one (0; a process killed before its renewal left
        them), at each poll those a replica that died left (:data:`RENEW_GRACE`; a live one pays its own at once).
        Claimed in the write that queues the new envelope, so two replicas looking together renew it once. How
        many it took up."""
        if self.renew is None or self.stopping:
            return 0
        owed = [i for i in await self._read(outbox.renewals_owed, time.time() - grace) if i not in self._renewing]
        if owed and not self.stopping:
            log.info("outbox: %d dead letter(s) owed a renewal after StUF019 taken up", len(owed))
            for delivery_id in owed:
                self._renew_task(delivery_id, None)
        return len(owed)

    def _count_written(self, item: Queued, outcome: Outcome, written: bool) -> None:
        """Count the attempt's outcome once its write is committed (never before: a failed COMMIT stored nothing, and
        the delivery, still pending, is sent and counted again), as delivered/dead only if it was written: one the
        delivery was settled meanwhile (a chain's Fo01, a replay) did not happen to it, and is counted apart."""
        try:
            if not written:
                self.observer.settled_meanwhile(item, outcome)
            elif outcome.result == DELIVERED:
                self.observer.delivered(item, outcome)
            else:
                self.observer.dead(item, outcome)
        except Exception as exc:  # a metric must never undo the status it counts
            log.error("delivery %d: its metrics failed (%s)", item.id, type(exc).__name__)

    def _then_answer(self, waiters: list[asyncio.Future[Outcome]], outcome: Outcome,
                     counted: Callable[[bool], None]) -> Callable[[bool], None]:
        """``counted``, then the senders waiting for this verdict (``ack: delivered``) answered, on the loop: only
        once the status is committed, or a sender told Fo03 that offers the message again at once finds its delivery
        still pending, untracked, and gets a Bv03 with no new envelope (tests/test_ggk_ack_delivered_verdict.py)."""
        def after(written: bool) -> None:
            counted(written)
            if waiters and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
                    self._loop.call_soon_threadsafe(answer, waiters, outcome)
        return after

    def _dead_written(self, item: Queued, outcome: Outcome, written: bool) -> None:
        """Count a dead letter; one the chain answered StUF019 goes to :attr:`renew` (after COMMIT, on the loop)."""
        self._count_written(item, outcome, written)
        if outcome.reply_code == restamp.STALE_TIJDSTIP and self.renew is not None and self._loop:
            with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
                self._loop.call_soon_threadsafe(self._renew_now, item.id, outcome, written)

    def _renew_now(self, delivery_id: int, outcome: Outcome, written: bool) -> None:
        if written and not self.stopping and self.renew is not None:
            self._renew_task(delivery_id, outcome)
        else:
            answer(self._waiters.pop(delivery_id, []), outcome)

    def _renew_task(self, delivery_id: int, outcome: Outcome | None) -> None:
        self._renewing.add(delivery_id)
        task = asyncio.create_task(self._renew_or_answer(delivery_id, outcome), name="outbox-renew")
        self._rescans.add(task)
        task.add_done_callback(self._rescans.discard)

    async def _renew_or_answer(self, delivery_id: int, outcome: Outcome | None) -> None:
        """Renew a StUF019 dead letter; the senders waiting for it hear the new envelope's verdict (learnt from the
        store should another replica send it), or ``outcome`` when it was not renewed (not owed, or the write
        failed: the debt stays for the next look)."""
        assert self.renew is not None
        try:
            renewed = await self.renew(delivery_id)
        finally:
            self._renewing.discard(delivery_id)
        if not renewed:
            if outcome is not None:
                answer(self._waiters.pop(delivery_id, []), outcome)
        elif delivery_id in self._waiters:  # held by another replica, this one never settles it: see claiming.py
            self._watched.add(delivery_id)

    def _count_retried(self, item: Queued, outcome: Outcome, delay: float) -> None:
        """Count a failed attempt as retried once its attempts and next_at are committed, as delivered and dead are
        (:meth:`_count_written`): a failed COMMIT stored nothing of it, and it is not counted. The retry itself is
        scheduled in memory either way; its next attempt is counted as what it becomes."""
        try:
            self.observer.retried(item, outcome, delay)
        except Exception as exc:  # a metric must never undo the write it counts
            log.error("delivery %d: its metrics failed (%s)", item.id, type(exc).__name__)

    def _write_settled(self, delivery_id: int, write: Callable[[Any], bool],
                       counted: Callable[[bool], None]) -> None:
        """Queue the delivered/dead status of a delivery; ``counted`` gets whether it was written, after COMMIT.
        *(hook)*"""
        self.committer.write_later(write, after=counted)


def answer(waiters: list[asyncio.Future[Outcome]], outcome: Outcome) -> None:
    """Tell the senders waiting for a delivery's verdict (``ack: delivered``) the outcome."""
    for fut in waiters:
        if not fut.done():
            fut.set_result(outcome)


def unless_settled(conn: Any, item: Queued, written: bool) -> bool:
    """After an attempt's outcome was not written (the delivery settled meanwhile: a chain's Fo01, a replay in a new
    envelope): say so, and have the forwarder look at the outbox again for a delivery queued anew meanwhile.
    ``written``, handed on."""
    if written:
        return True
    outbox.bump_generation(conn)
    log.info("delivery %d (%s/%s %s) was settled meanwhile (a chain's Fo01, or queued anew): this attempt's "
             "outcome is not written", item.id, item.route, item.target, item.referentienummer)
    return False
