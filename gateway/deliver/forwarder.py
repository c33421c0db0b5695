"""Delivery workers: send what the outbox holds to the downstreams, in order per key, until each is settled.

Each downstream gets a *lane*: a pool of workers, each with its own keep-alive connection (one
client of one connection per worker: gateway/deliver/wire.py; a shared
pool re-checks every idle connection on every request), sharing a circuit breaker.
Deliveries are grouped by key (route, target, client/zaak): a key has at most one delivery in
flight, so messages about one zaak arrive in the order they came in, and a delivery that waits for
a retry holds back only its own key. Outcomes: a 2xx with a StUF Bv is delivered; a StUF Fo or a 4xx
is a dead letter with the downstream's reason; 5xx, timeouts and connection errors are retried with
exponential backoff and jitter, up to a bounded number of attempts. When a downstream keeps failing
its circuit opens: deliveries park and one probe at a time tests it; the first success releases
everything that waited. Attempts that find the downstream unreachable while its circuit is open are
not counted, so an outage of any length ends in delivery, not in dead letters.

One attempt's exchange over the wire is gateway/deliver/exchange.py; what a settled outcome's write is counted as
once committed, gateway/deliver/settled_writes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from gateway.zaken.plan import CREEER, SOAP_ACTIONS

from . import forwarder_reads, imported, outbox, restamp
from .coalesce import OneMore
from .committer import GroupCommitter
from .downstream import Downstream
from .exchange import exchange
from .lanes import CLOSED, Client, KeyQueue, Lane
from .outbox import Queued
from .outcome import DEAD, DELIVERED, GONE, RETRY, Outcome, classify, transport_failed, wire_headers
from .settled_writes import RENEW_GRACE, Observer, SettledWrites, answer, unless_settled
from .store import SqliteStore, Store, failure_name
from .wire import TIMEOUT_ERRORS, TRANSPORT_ERRORS

log = logging.getLogger("overstap.forwarder")
__all__ = ["DEAD", "DELIVERED", "GONE", "RETRY", "Forwarder", "Lane", "Observer", "Outcome", "classify"]
WORKER_ERROR_DELAY = 5.0
"""Seconds before a key whose handling failed unexpectedly is tried again."""
_CREEER = SOAP_ACTIONS[CREEER]
"""The SOAPAction of a creeerZaak: only those may carry an import's mark (gateway/deliver/imported.py)."""


class Forwarder(SettledWrites):
    """Owns the pending deliveries of the outbox in memory and works them off through the lanes.

    The hooks marked *(hook)* are what a replica on a shared store does differently
    (gateway/deliver/claiming.py): claim a zaak before sending it, find work other replicas added.
    """

    def __init__(self, store: Store, committer: GroupCommitter, targets: dict[tuple[str, str], Downstream], *,
                 observer: Observer | None = None, poll_interval: float = 1.0, cache_limit: int = 20000,
                 rng: random.Random | None = None, renew_grace: float = RENEW_GRACE) -> None:
        self.store = store
        self.committer = committer
        self.targets = targets
        self.observer = observer or Observer()
        self.poll_interval = poll_interval
        self.renew_grace = renew_grace
        self.cache_limit = cache_limit
        self.rng = rng or random.Random()
        self.lanes: dict[str, Lane] = {}
        self._keys: dict[tuple[str, str, str], KeyQueue] = {}
        self._known: set[int] = set()
        self._scans = 0  # rescans whose read of the pending rows is under way
        self._scan_tick = 0
        self._left_during: dict[int, int] = {}  # id -> the tick when it was settled while a rescan read
        self._depth: dict[tuple[str, str], int] = {}
        self._cached = 0
        self._waiters: dict[int, list[asyncio.Future[Outcome]]] = {}
        self._watched: set[int] = set()
        """Deliveries a sender waits for (``ack: delivered``) that no copy held here settles: a copy found gone, or
        one another replica holds (gateway/deliver/claiming.py). Answered from the status the outbox holds."""
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._poller: asyncio.Task[None] | None = None
        self._rescans: set[asyncio.Task[None]] = set()
        self._rescans_asked = OneMore(lambda: self._poll_once(), lambda run: self._background(run, "outbox-rescan"))
        self._loop: asyncio.AbstractEventLoop | None = None
        self.renew: Callable[[int], Awaitable[bool]] | None = None
        """Replays a dead letter the chain answered StUF019 in a new envelope if it is stale (gateway/proxy
        replaying.renew_stale: the stamp comes from the sidecar's ledger, as an operator's replay's); whether it
        did."""
        self._renewing: set[int] = set()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="outbox-reader")
        self._reader_conn: Any = None
        self._mark_conn: sqlite3.Connection | None = None
        """A read-only connection for :meth:`_import_mark` on SQLite, used on the loop only."""
        self._generation = -1
        self._unrouted: set[tuple[str, str]] = set()
        self.stopping = False
        self.worker_restarts = 0
        self.worker_errors = 0

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for downstream in {d.name: d for d in self.targets.values()}.values():
            lane = self.lanes[downstream.name] = Lane(downstream)
            for i, client in enumerate(lane.clients):
                self._spawn(lane, client, f"deliver-{downstream.name}-{i}")
        self._generation = await self._read(forwarder_reads.generation)
        await self.rescan()
        await self.renew_owed(0.0)  # what a process killed before its renewal left (docs/ggk-profile.md 5.2)
        self._poller = asyncio.create_task(self._poll(), name="outbox-poller")

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the deliveries in flight (up to ``grace`` seconds); the rest stay pending in the outbox."""
        self.stopping = True
        if self._poller is not None:
            self._poller.cancel()
        for lane in self.lanes.values():
            for _ in lane.clients:
                lane.ready.put_nowait(None)
        if self._workers:
            _done, late = await asyncio.wait(self._workers, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d delivery(ies) still in flight at shutdown stay pending", len(late))
                await asyncio.gather(*late, return_exceptions=True)
        for timer in self._timers:
            timer.cancel()
        for lane in self.lanes.values():
            await lane.close()
        for futures in self._waiters.values():
            for fut in futures:
                fut.cancel()
        await self._before_reader_closes(grace)
        await asyncio.get_running_loop().run_in_executor(self._reader, self._close_reader)
        self._reader.shutdown(wait=True)
        if self._mark_conn is not None:
            self._mark_conn.close()
            self._mark_conn = None

    # -- intake ----------------------------------------------------------------------------------

    def add(self, items: Iterable[Queued]) -> None:
        """Track newly committed deliveries; keys that are idle are offered to their lane at once."""
        now = time.time()
        for item in items:
            if item.id in self._known:
                continue
            downstream = self.targets.get((item.route, item.target))
            if downstream is None:
                if (item.route, item.target) not in self._unrouted:
                    self._unrouted.add((item.route, item.target))
                    log.error("no downstream configured for route %s target %s: its deliveries stay pending",
                              item.route, item.target)
                continue
            if item.payload is not None:
                if self._cached >= self.cache_limit:
                    item.payload = None
                else:
                    self._cached += 1
            self._known.add(item.id)
            depth_key = (item.route, item.target)
            self._depth[depth_key] = self._depth.get(depth_key, 0) + 1
            key = (item.route, item.target, item.order_key)
            entry = self._keys.get(key)
            if entry is None:
                entry = self._keys[key] = KeyQueue(key, self.lanes[downstream.name])
            entry.insert(item)
            if not entry.scheduled:
                entry.scheduled = True
                self._schedule(entry, max(0.0, item.next_at - now))

    def waiter(self, delivery_id: int, *, watch: bool = False) -> asyncio.Future[Outcome]:
        """A future for the outcome of a delivery (for ``ack: delivered``); register before ``add``. ``watch``: a
        delivery no copy held here settles (another replica holds its key): answered from the status it stores."""
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(delivery_id, []).append(fut)
        if watch:
            self._watched.add(delivery_id)
        return fut

    def forget(self, delivery_id: int, fut: asyncio.Future[Outcome]) -> None:
        futures = self._waiters.get(delivery_id)
        if futures and fut in futures:
            futures.remove(fut)
            if not futures:
                del self._waiters[delivery_id]

    def tracks(self, delivery_id: int) -> bool:
        return delivery_id in self._known

    async def configured_elsewhere(self, route: str, target: str) -> bool:
        """Whether another replica delivers (route, target): none beside a sidecar alone on its outbox."""
        return False

    def depth(self) -> dict[tuple[str, str], int]:
        """Pending deliveries per (route, target)."""
        return dict(self._depth)

    async def rescan(self) -> None:
        """Pick up pending rows this process does not track (a restart, or a replay by the CLI).

        The read runs in the writer thread, after every status update queued before it, so a
        delivery settled a moment ago is never mistaken for pending; one settled *after* the read was queued
        (in flight while it ran) is read as pending and is no longer known by the time the read is answered:
        such ids are noted while a read is under way and passed over, or a delivered message is sent twice.
        """
        self._scan_tick += 1
        began = self._scan_tick
        self._scans += 1
        try:
            rows = await self.committer.write(forwarder_reads.pending)
        finally:
            self._scans -= 1
        fresh = [r for r in rows if r.id not in self._known and self._left_during.get(r.id, 0) < began]
        if not self._scans:
            self._left_during.clear()
        if fresh:
            fresh = await self._claimable(fresh)
        if fresh:
            log.info("outbox: %d pending delivery(ies) picked up", len(fresh))
            self.add(fresh)
        await self._answer_watched()

    async def _poll(self) -> None:
        while not self.stopping:
            await asyncio.sleep(self.poll_interval)
            await self._poll_once(always=False)

    async def _poll_once(self, always: bool = True) -> None:
        try:
            current = await self._read(forwarder_reads.generation)
            if always or self._look_again(current):
                await self.rescan()
                self._generation = current  # once read: a rescan that failed is made again at the next poll
            if not always:  # the poll: a renewal a dead replica owed, or one whose write failed (an index probe)
                await self.renew_owed(self.renew_grace)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox poll failed: %s", failure_name(exc))

    # -- the work --------------------------------------------------------------------------------

    def _schedule(self, entry: KeyQueue, delay: float) -> None:
        if delay <= 0:
            entry.lane.offer(entry)
            return
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            if not self.stopping:
                entry.lane.offer(entry)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def _spawn(self, lane: Lane, client: Client, name: str) -> None:
        """Start a delivery worker; should it ever end while the gateway runs, start it again."""
        task = asyncio.create_task(self._work(lane, client), name=name)
        self._workers.append(task)

        def ended(done: asyncio.Task[None]) -> None:
            if self.stopping:
                return
            self._workers.remove(done)
            why = "cancelled" if done.cancelled() else type(done.exception()).__name__
            self.worker_restarts += 1
            log.error("delivery worker %s ended unexpectedly (%s); started again", name, why)
            self._spawn(lane, client, name)

        task.add_done_callback(ended)

    def workers(self) -> dict[str, int]:
        """Delivery workers running, expected, and restarted after an unexpected end (for /readyz and metrics)."""
        return {"running": sum(not t.done() for t in self._workers),
                "expected": sum(len(lane.clients) for lane in self.lanes.values()),
                "restarted": self.worker_restarts, "errors": self.worker_errors}

    async def _work(self, lane: Lane, client: Client) -> None:
        while True:
            entry = await lane.ready.get()
            if entry is None or self.stopping:
                return
            try:
                self._handle_entry(lane, entry, await self._try_entry(lane, client, entry))
            except asyncio.CancelledError:
                if not self.stopping:  # this worker is started again; the key it held must not be left behind
                    self._schedule(entry, WORKER_ERROR_DELAY)
                raise
            except Exception as exc:  # no input may end a worker: note it, try the key again later
                self.worker_errors += 1
                log.error("delivery worker for %s failed (%s); the key is tried again in %gs", lane.downstream.name,
                          type(exc).__name__, WORKER_ERROR_DELAY)
                self._schedule(entry, WORKER_ERROR_DELAY)

    async def _try_entry(self, lane: Lane, client: Client, entry: KeyQueue) -> tuple[Queued, Outcome] | None:
        """Attempt the oldest delivery of a key, if the key has one and the circuit lets it through."""
        if not entry.items:
            entry.scheduled = False
            return None
        if not await self._own(entry):
            return None
        if not entry.items:  # refreshed by _own with nothing left pending
            self._idle(entry)
            return None
        if not lane.admit(entry):
            return None
        item = entry.items[0]
        lane.inflight += 1
        try:
            try:
                outcome = await self._attempt(lane, client, item)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except Exception as exc:  # a bug or an input httpx cannot send: retried, then a dead letter
                log.error("delivery %d could not be sent: %s", item.id, type(exc).__name__)
                outcome = Outcome(RETRY, f"could not be sent: {type(exc).__name__}")
        finally:
            lane.inflight -= 1
        return item, outcome

    def _handle_entry(self, lane: Lane, entry: KeyQueue, tried: tuple[Queued, Outcome] | None) -> None:
        if tried is None:
            return
        item, outcome = tried
        lane.settle(Outcome(GONE) if outcome.unsent else outcome)  # held back: a probe that sent nothing
        if outcome.result == RETRY and outcome.http_status is None and lane.state != CLOSED:
            # The downstream is unreachable, not this message at fault: an outage must not use up
            # the attempts that exist to stop a message the downstream keeps failing on.
            item.attempts -= 1
        self._settle(entry, item, outcome)

    async def _attempt(self, lane: Lane, client: Client, item: Queued) -> Outcome:
        downstream = lane.downstream
        if item.payload is None:
            loaded = await self._read(forwarder_reads.load_payload, item.id, item.referentienummer)
            if loaded is None:  # settled, or queued anew in a new envelope since: a rescan finds the latter
                return Outcome(GONE, "no longer pending in the outbox as it was sent")
            item.payload, item.content_type, item.soap_action = loaded
        else:
            self._cached -= 1
        if item.soap_action == _CREEER:  # marked by an import even while this forwarder held it: asked now
            zaak = await self._import_mark(item.id)
            if zaak is not None:
                return Outcome(DEAD, imported.not_sent(zaak), unsent=True)
        headers = wire_headers(item, downstream)
        item.attempts += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(downstream.timeout):  # one deadline for the whole exchange, not per read
                outcome = await exchange(client, downstream, item.payload, headers)
        except TimeoutError:
            outcome = Outcome(RETRY, f"no complete answer within {downstream.timeout:g}s", transport_failure=True)
        except TIMEOUT_ERRORS as exc:
            outcome = Outcome(RETRY, f"timeout ({type(exc).__name__}) after {downstream.timeout:g}s",
                              transport_failure=True)
        except TRANSPORT_ERRORS as exc:
            outcome = transport_failed(exc)
        outcome.seconds = time.perf_counter() - started
        return outcome

    def _settle(self, entry: KeyQueue, item: Queued, outcome: Outcome) -> None:
        policy = entry.lane.downstream.retry
        if outcome.result == RETRY and item.attempts >= policy.max_attempts:
            outcome.result = DEAD
            outcome.reason = f"gave up after {item.attempts} attempts; last: {outcome.reason}"
        if outcome.result == RETRY:
            delay = max(policy.delay(item.attempts, self.rng), outcome.retry_after or 0.0)
            next_at = time.time() + delay
            item.next_at = next_at
            self.committer.write_later(lambda c: outbox.mark_retry(c, item.id, item.attempts, next_at,
                                                                   outcome.http_status, outcome.stored,
                                                                   sent_as=item.referentienummer),
                                       after=lambda _: self._count_retried(item, outcome, delay))
            log.info("delivery %d (%s/%s) attempt %d failed, retry in %.1fs: %s", item.id, item.route, item.target,
                     item.attempts, delay, outcome.summary)
            item.payload = None  # reload when due: a long outage must not pin every payload in memory
            self._schedule(entry, delay)
            return
        entry.items.remove(item)  # not the front: a replayed older delivery of the key may be queued there since
        self._known.discard(item.id)
        if self._scans:  # a rescan's read may have found it pending: see rescan
            self._left_during[item.id] = self._scan_tick
        depth_key = (item.route, item.target)
        self._depth[depth_key] = self._depth.get(depth_key, 1) - 1
        renewing = outcome.result == DEAD and outcome.reply_code == restamp.STALE_TIJDSTIP and self.renew is not None
        waiters = self._waiters.pop(item.id, []) if outcome.result in (DELIVERED, DEAD) and not renewing else []
        if outcome.result == DELIVERED:
            self._write_settled(item, lambda c: unless_settled(c, item, outbox.mark_delivered(
                c, item.id, item.attempts, outcome.http_status, outcome.reply_code, sent_as=item.referentienummer)),
                self._then_answer(item.id, waiters, outcome, lambda written: self._count_written(item, outcome,
                                                                                               written)), waiters)
            log.info("delivery %d (%s/%s %s) delivered after %d attempt(s)", item.id, item.route, item.target,
                     item.referentienummer, item.attempts)
        elif outcome.result == GONE:  # the row changed behind this copy: what is pending now is picked up afresh
            if item.id in self._waiters:  # and its waiters hear that one's outcome, or the status the outbox holds
                self._watched.add(item.id)
            self.rescan_soon()
        elif outcome.result == DEAD:
            def dead(c: Any) -> bool:
                written = unless_settled(c, item, outbox.mark_dead(c, item.id, item.attempts, outcome.http_status,
                                                                   outcome.reply_code, outcome.stored,
                                                                   sent_as=item.referentienummer))
                if written and renewing:  # the debt in the dead letter's transaction: a kill cannot part them
                    restamp.owe_renewal(c, item.id)
                return written

            self._write_settled(item, dead, self._then_answer(
                item.id, waiters, outcome, lambda written: self._dead_written(item, outcome, written)), waiters)
            log.warning("delivery %d (%s/%s %s) dead letter: %s", item.id, item.route, item.target,
                        item.referentienummer, outcome.summary)
        item.payload = None
        if outcome.result != GONE and not renewing:  # a stale copy's GONE says nothing of the message (a Bv03 to a
            # sender waiting); one waiting for a StUF019 envelope the sidecar renews hears the new one's verdict
            answer(self._waiters.pop(item.id, []), outcome)
        if entry.items:
            entry.lane.offer(entry)
        else:
            self._idle(entry)

    def _again_later(self, item: Queued) -> None:
        downstream = self.targets.get((item.route, item.target))
        delay = downstream.retry.delay(max(item.attempts, 1), self.rng) if downstream is not None else 0.0
        item.next_at, item.payload = time.time() + delay, None
        self.add([item])

    def rescan_soon(self) -> None:
        """Rescan now, not at the next poll: a replay's generation bump came while this forwarder held the delivery's
        old copy (a retry of the old envelope), and its rescan passed the delivery over as known; or this process
        replayed deliveries itself (gateway/proxy/replaying.py), which on SQLite no NOTIFY announces. Asks that come
        while one runs make one more after it, not one each (a flood of NOTIFYs: one read in flight, one queued)."""
        self._rescans_asked.ask()

    def _idle(self, entry: KeyQueue) -> None:
        """A key with nothing left to send: forget it. *(hook)*"""
        entry.scheduled = False
        if self._keys.get(entry.key) is entry:
            del self._keys[entry.key]

    # -- hooks for a shared store (gateway/deliver/claiming.py) --------------------------------------

    def _look_again(self, generation: int) -> bool:
        """Rescan the outbox at this poll? Only when someone (a CLI replay) bumped its generation. *(hook)*"""
        return generation != self._generation

    async def _claimable(self, rows: list[Queued]) -> list[Queued]:
        """Which of the rows a rescan found this forwarder may deliver: all of them. *(hook)*"""
        return rows

    async def _own(self, entry: KeyQueue) -> bool:
        """May this forwarder send the key's oldest delivery now? Always. *(hook)*"""
        return True

    async def _before_reader_closes(self, grace: float) -> None:
        """The workers have stopped; the reader connection closes next. *(hook)*"""

    def _reader_lost(self) -> None:
        """The reader connection failed and was dropped. *(hook)*"""

    # -- reading ---------------------------------------------------------------------------------

    async def _import_mark(self, delivery_id: int) -> str | None:
        """The zaak of a creeerZaak an import marked (gateway/deliver/imported.py), asked just before it is sent. On
        the sidecar's own SQLite file on the loop, over a read-only connection of its own: a primary-key read of
        ~8 µs, where the reader thread's hop cost ~70 µs a creeerZaak (tests/measure_import_mark.py), and in
        benchmarks/proxy_bench.py every message is one. On a shared store through the reader, as every other read."""
        if not isinstance(self.store, SqliteStore):
            return cast("str | None", await self._read(imported.held, delivery_id))
        if self._mark_conn is None:
            self._mark_conn = outbox.connect_read_only(self.store.path)
        return imported.held(self._mark_conn, delivery_id)

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._reader, self._run_read, fn, args)

    def _run_read(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._reader_conn is None:
            self._reader_conn = self.store.connect()
        try:
            return fn(self._reader_conn, *args)
        except Exception:
            if getattr(self._reader_conn, "closed", False):  # a database restart: the next read reconnects
                self._reader_conn = None
                self._reader_lost()
            raise

    def _close_reader(self) -> None:
        if self._reader_conn is not None:
            with contextlib.suppress(Exception):
                self._reader_conn.close()
            self._reader_conn = None
