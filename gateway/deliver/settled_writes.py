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
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from . import forwarder_reads, outbox, restamp
from .committer import GroupCommitter
from .outbox import Queued
from .outcome import DEAD, DELIVERED, Outcome
from .store import failure_name

log = logging.getLogger("overstap.forwarder")
RENEW_GRACE = 10.0
"""Seconds a renewal owed on a StUF019 dead letter waits before another replica's poll pays it, by default (the
sidecar's ``renew_grace``): the replica that wrote it pays it within milliseconds of its COMMIT, and one that died
leaves it (docs/ggk-profile.md 5.2)."""


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
    renew_grace: float
    """Seconds a debt waits before a poll pays it (:data:`RENEW_GRACE` unless configured: ``renew_grace``)."""

    async def renew_owed(self, grace: float) -> int:
        """Pay the renewals owed on StUF019 dead letters (gateway/deliver/restamp.py ``owe_renewal``) that were
        written more than ``grace`` seconds ago: at start every one (0; a process killed before its renewal left
        them), at each poll those a replica that died left (``renew_grace``; a live one pays its own at once).
        Claimed in the write that queues the new envelope, so two replicas looking together renew it once. How
        many it took up."""
        if self.renew is None or self.stopping:
            return 0
        found = await self._read(forwarder_reads.renewals_owed, time.time() - grace)
        owed = [i for i in found if i not in self._renewing]
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

    def _then_answer(self, delivery_id: int, waiters: list[asyncio.Future[Outcome]], outcome: Outcome,
                     counted: Callable[[bool], None]) -> Callable[[bool], None]:
        """``counted``, then the senders waiting for this verdict (``ack: delivered``) answered, on the loop: only
        once the status is committed, or a sender told Fo03 that offers the message again at once finds its delivery
        still pending, untracked, and gets a Bv03 with no new envelope (tests/test_ggk_ack_delivered_verdict.py).
        And only with a verdict that was written: a stale copy's (the delivery settled or queued anew in a new
        envelope meanwhile) says nothing the outbox records; those senders hear what it holds (:meth:`_watch_again`)."""
        def after(written: bool) -> None:
            counted(written)
            if waiters and self._loop is not None:
                with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
                    if written:
                        self._loop.call_soon_threadsafe(answer, waiters, outcome)
                    else:
                        self._loop.call_soon_threadsafe(self._watch_again, delivery_id, waiters)
        return after

    def _watch_again(self, delivery_id: int, waiters: list[asyncio.Future[Outcome]]) -> None:
        """Senders the verdict of an attempt was not stored for wait on: for the copy a rescan (now) takes up, or for
        the status the outbox holds (a watched delivery: :meth:`_answer_watched`)."""
        live = [w for w in waiters if not w.done()]
        if live:
            self._waiters.setdefault(delivery_id, []).extend(live)
        if delivery_id in self._waiters:
            self._watched.add(delivery_id)
        self.rescan_soon()

    def _not_stored(self, error: BaseException | None, item: Queued, waiters: list[asyncio.Future[Outcome]]) -> None:
        """On the writer thread, once a settled status's write is answered: when its batch failed (``error``: a cut or
        failing writer connection, a failed COMMIT) nothing was stored, and the delivery, no longer tracked, is pending
        in the outbox still. It is taken up again after its retry delay (a SQLite forwarder waited for a restart: no
        generation bump announces it), sent again under the same referentienummer (at least once); its senders wait
        for that."""
        if error is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
                self._loop.call_soon_threadsafe(self._take_up_again, item, waiters, failure_name(error))

    def _take_up_again(self, item: Queued, waiters: list[asyncio.Future[Outcome]], why: str) -> None:
        """Track the delivery again, due after its retry delay: a store that refuses every such COMMIT must not have
        the downstream sent the message in a tight loop. Its senders wait for what that attempt records."""
        log.warning("delivery %d (%s/%s %s): its settled status was not stored (%s): it is pending still and taken "
                    "up again", item.id, item.route, item.target, item.referentienummer, why)
        live = [w for w in waiters if not w.done()]
        if live:
            self._waiters.setdefault(item.id, []).extend(live)
        self._again_later(item)

    def _again_later(self, item: Queued) -> None:
        """Track a delivery again, due after its retry delay (gateway/deliver/forwarder.py)."""
        raise NotImplementedError

    def _dead_written(self, item: Queued, outcome: Outcome, written: bool) -> None:
        """Count a dead letter; one the chain answered StUF019 goes to :attr:`renew` (after COMMIT, on the loop)."""
        self._count_written(item, outcome, written)
        if outcome.reply_code == restamp.STALE_TIJDSTIP and self.renew is not None and self._loop:
            with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
                self._loop.call_soon_threadsafe(self._renew_now, item.id, outcome, written, item.referentienummer)

    def _renew_now(self, delivery_id: int, outcome: Outcome, written: bool, sent_as: str) -> None:
        if not written:  # settled meanwhile (a Fo01, queued anew): this StUF019 is not what the outbox holds
            self._watch_again(delivery_id, self._waiters.pop(delivery_id, []))
        elif not self.stopping and self.renew is not None:
            self._renew_task(delivery_id, outcome, sent_as=sent_as)
        else:
            answer(self._waiters.pop(delivery_id, []), outcome)

    def _renew_task(self, delivery_id: int, outcome: Outcome | None, name: str = "outbox-renew",
                    sent_as: str | None = None) -> None:
        self._renewing.add(delivery_id)
        task = asyncio.create_task(self._renew_or_answer(delivery_id, outcome, sent_as), name=name)
        self._rescans.add(task)
        task.add_done_callback(self._rescans.discard)

    async def _renew_or_answer(self, delivery_id: int, outcome: Outcome | None, sent_as: str | None) -> None:
        """Renew a StUF019 dead letter (the envelope ``sent_as``); the senders waiting for it hear the new envelope's
        verdict (learnt from the store should another replica send it), or ``outcome`` when it was not renewed (not
        owed, or the write failed: the debt stays for the next look)."""
        assert self.renew is not None
        try:
            renewed = await self.renew(delivery_id)
        finally:
            self._renewing.discard(delivery_id)
        if renewed:
            if delivery_id in self._waiters:  # whichever replica takes the new envelope, its status answers them
                self._watched.add(delivery_id)
        elif outcome is not None:  # a debt paid at a look (no outcome) has no senders of this process to answer
            await self._answer_unless_renewed(delivery_id, outcome, sent_as)

    async def _answer_unless_renewed(self, delivery_id: int, outcome: Outcome, sent_as: str | None) -> None:
        """A StUF019 dead letter not renewed here: its senders hear ``outcome`` if the outbox still holds that dead
        letter, and wait on (watched) if it is pending again or settled in another envelope: renewed meanwhile by
        another (a replica, a watch, an operator), the superseded envelope's verdict is not theirs; the new one's
        is, read from the store now (tests/test_waiters_claims.py, tests/test_renewal_waiters_pg.py)."""
        try:
            settled = await self._read(forwarder_reads.settled, [delivery_id])
        except Exception as exc:  # the store: watched, a later rescan answers from what it holds then
            log.warning("delivery %d: its status was not read (%s): its senders wait on", delivery_id,
                        failure_name(exc))
            settled = []
        if settled and sent_as in (None, settled[0][5]):
            self._watched.discard(delivery_id)
            answer(self._waiters.pop(delivery_id, []), outcome)
        elif delivery_id in self._waiters:
            self._watched.add(delivery_id)
            if settled:  # the winner's envelope has its verdict already: answered from the store, at once
                self.rescan_soon()

    async def _answer_watched(self) -> None:
        """Resolve the waiters of watched deliveries that are settled in the outbox, from the status it holds; those
        still pending (taken up again, or held by another replica) wait on."""
        ids = [i for i in self._watched if i in self._waiters]
        self._watched.intersection_update(ids)
        if not ids:
            return
        for row in await self._read(forwarder_reads.settled, ids):
            outcome = stored_verdict(row)
            self._watched.discard(row[0])
            if row[3] == restamp.STALE_TIJDSTIP and row[1] == outbox.DEAD and self.renew is not None:
                # renewed a moment later by the replica that sent it, or never (not stale, that replica gone): renewed
                # here if it is stale (a second renewal finds it pending and is refused), else this verdict is final
                if row[0] in self._renewing:  # paid here now (a look at the debts): its end says more
                    self._watched.add(row[0])
                else:
                    self._renew_task(row[0], outcome, "outbox-renew-watched", sent_as=row[5])
            else:
                answer(self._waiters.pop(row[0], []), outcome)

    def _count_retried(self, item: Queued, outcome: Outcome, delay: float) -> None:
        """Count a failed attempt as retried once its attempts and next_at are committed, as delivered and dead are
        (:meth:`_count_written`): a failed COMMIT stored nothing of it, and it is not counted. The retry itself is
        scheduled in memory either way; its next attempt is counted as what it becomes."""
        try:
            self.observer.retried(item, outcome, delay)
        except Exception as exc:  # a metric must never undo the write it counts
            log.error("delivery %d: its metrics failed (%s)", item.id, type(exc).__name__)

    def _write_settled(self, item: Queued, write: Callable[[Any], bool], counted: Callable[[bool], None],
                       waiters: list[asyncio.Future[Outcome]]) -> None:
        """Queue the delivered/dead status of a delivery; ``counted`` gets whether it was written, after COMMIT; a
        write that was not committed has the delivery taken up again (:meth:`_not_stored`). *(hook)*"""
        self.committer.write_later(write, after=counted, failed=lambda e: self._not_stored(e, item, waiters))

    def rescan_soon(self) -> None:
        """Rescan the outbox now (gateway/deliver/forwarder.py)."""
        raise NotImplementedError

    def _background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` as a task the forwarder keeps (and waits for no longer once it stops)."""
        if self.stopping:
            work.close()
            return
        task = asyncio.create_task(work, name=name)
        self._rescans.add(task)
        task.add_done_callback(self._rescans.discard)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the reader connection (gateway/deliver/forwarder.py)."""
        raise NotImplementedError


def answer(waiters: list[asyncio.Future[Outcome]], outcome: Outcome) -> None:
    """Tell the senders waiting for a delivery's verdict (``ack: delivered``) the outcome."""
    for fut in waiters:
        if not fut.done():
            fut.set_result(outcome)


def stored_verdict(row: Any) -> Outcome:
    """A settled row of :func:`gateway.deliver.forwarder_reads.settled` as the verdict a watching sender hears: its
    code, not its reason (the downstream's own words). With a StUF code, that code is what the sender's Fo03 names,
    not the bare HTTP status (a watcher of a chain's Fo03 StUF055 heard "refused downstream: HTTP 500")."""
    said = f"{row[3] or row[1]} (its reason is kept with delivery {row[0]} in the outbox)"
    return Outcome(DELIVERED if row[1] == outbox.DELIVERED else DEAD, http_status=None if row[3] else row[2],
                   reason=said)


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
