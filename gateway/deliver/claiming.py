"""The forwarder of one replica among several on a shared store: it delivers only the zaken it has claimed.

Messages of one order key (route, target, client/zaak) must reach the downstream one after the other, so one
replica at a time holds a key (gateway/deliver/claims.py: session advisory locks). What this adds to the
:class:`~gateway.deliver.forwarder.Forwarder`, through its hooks:

* before each send the key is claimed (or, held by another replica, dropped here) and its pending deliveries
  are read from the store: the store, not memory, says which is the oldest — another replica may have stored
  an older message of the zaak, or delivered some of what this one holds;
* a delivered/dead status is remembered until committed, so such a read does not take it for pending;
* a key with nothing left is let go once its statuses are committed, by the key's latest idle only;
* the outbox is rescanned at every poll, and at once when another process NOTIFYs a change (a CLI's replay or
  reconvert: gateway/pgstore/notify.py), keeping only rows of keys this replica holds or can claim;
* a lost reader connection lost its claims with it: they are forgotten (another replica may take them);
* a sender waiting for the downstream's verdict (``ack: delivered``) on a delivery another replica holds is
  answered from the status that replica stores (delivered, or dead with its reason), read at once when a replica
  NOTIFYs that it committed such a status (:func:`~gateway.pgstore.notify.notify_settled`; before session 29, at the
  next poll only);
* the routes this replica configures are held (claims.hold_routes) on its reader connection as well as on its
  listening one, so that losing either leaves the other saying it (:meth:`ClaimingForwarder._run_read`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from gateway.pgstore.notify import CHANNEL, Listener, notify_settled

from . import claims
from .coalesce import OneMore
from .forwarder import Forwarder
from .lanes import KeyQueue
from .outbox import Queued
from .outcome import Outcome
from .store import failure_name

log = logging.getLogger("overstap.forwarder")


def _announced(write: Callable[[Any], bool]) -> Callable[[Any], bool]:
    """``write``, which when it wrote the status also has its batch's COMMIT NOTIFY the replicas watching."""
    def announcing(conn: Any) -> bool:
        written = write(conn)
        if written:  # not written: settled meanwhile, and the generation bump that says so NOTIFYs already
            notify_settled(conn)
        return written
    return announcing


def _nothing(conn: Any) -> None:
    """A committer job that writes nothing: its future resolves once everything queued before it is committed."""
    return None


class ClaimingForwarder(Forwarder):
    """A :class:`Forwarder` that delivers a key only while it holds the key's claim (see the module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claimed: set[int] = set()
        """Claims this replica holds (lock ids of order keys)."""
        self._settling: set[int] = set()
        """Deliveries settled here whose status is not committed yet."""
        self._last_idle: dict[int, int] = {}
        """Per claimed key, a count of the times it went idle: which release task is the latest."""
        self._releases: set[asyncio.Task[None]] = set()
        self._listener: Listener | None = None
        self._routes = sorted({claims.route_id(route, target) for route, target in self.targets})
        """The shared route locks this replica holds on its listening and its reader connection."""
        self.watchable: Callable[[str, str], bool] = lambda route, target: True
        """Whether a sender may wait for the verdict of a (route, target)'s deliveries (``ack: delivered``): only
        then does a settled status of one NOTIFY the replicas (the sidecar's configuration says; gateway/proxy)."""
        self._watch_reads = OneMore(self._read_watched, lambda run: self._background(run, "outbox-watched"))
        """Reads of the watched rows asked for by notifications: one under way, and at most one more after it."""

    async def start(self) -> None:
        await super().start()
        url = getattr(self.store, "url", None)
        if url is not None:
            loop = asyncio.get_running_loop()

            def heard(channel: str) -> None:
                loop.call_soon_threadsafe(self.rescan_soon if channel == CHANNEL else self._watched_soon)

            self._listener = Listener(url, heard, self.poll_interval,
                                      lambda conn: claims.hold_routes(conn, self._routes))
            self._listener.start()

    async def configured_elsewhere(self, route: str, target: str) -> bool:
        """Whether a live replica on this store configures (route, target): it holds the route's shared lock on its
        listening connection (session 29; before, a replica could not tell, and its sender waited ``ack_timeout``) and,
        since session 30, on its reader connection (:meth:`_run_read`)."""
        return bool(await self._read(claims.configured_anywhere, route, target))

    def _run_read(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """A read, on a reader connection that holds this replica's routes (taken as it is opened, before any read).

        Why on two connections: another replica answers a re-send "not delivered" at once when no live replica holds
        its route, and a replica between two connections holds nothing. One connection is never without a gap (the
        listener's reconnect, :data:`~gateway.pgstore.notify.FIRST_RETRY` and the connect, or a reader reconnecting
        only at its next read); two, each re-taking the locks before it is used, leave none while either lives. A
        second look after a grace would be neither exact (a reconnect under load may outlast any grace) nor free (it
        would delay every true "nowhere" answer)."""
        if self._reader_conn is None:
            conn = self.store.connect()
            try:
                claims.hold_routes(conn, self._routes)
            except Exception:
                with contextlib.suppress(Exception):  # the store went again: the next read connects anew
                    conn.close()
                raise
            self._reader_conn = conn
        return super()._run_read(fn, args)

    def _watched_soon(self) -> None:
        """Another replica committed statuses someone may watch: read the watched rows now, not at the next poll.
        Notifications that come while a read is under way ask for one more read after it, not one each."""
        if self._watched:
            self._watch_reads.ask()

    async def _read_watched(self) -> None:
        try:
            await self._answer_watched()
        except Exception as exc:  # the store: the next poll or notification reads them again
            log.warning("the watched deliveries' statuses were not read (%s): read at the next poll",
                        failure_name(exc))

    async def stop(self, grace: float = 30.0) -> None:
        try:
            await super().stop(grace)
        finally:  # what it heard meanwhile started nothing: the forwarder is stopping
            if self._listener is not None:
                await asyncio.to_thread(self._listener.stop)

    def _look_again(self, generation: int) -> bool:
        return True

    async def _claimable(self, rows: list[Queued]) -> list[Queued]:
        """The rows whose keys this replica holds or could claim now; the others belong to another replica. A row of
        a route with no downstream here is never claimed (session 29: held here, the replica that configures the route
        could never deliver it); it passes on unclaimed, and intake logs it and leaves it pending."""
        routed = [r for r in rows if (r.route, r.target) in self.targets]
        held = await self._read(self._claim, sorted({claims.lock_id(r.route, r.target, r.order_key) for r in routed}))
        return [r for r in rows
                if (r.route, r.target) not in self.targets or claims.lock_id(r.route, r.target, r.order_key) in held]

    async def _own(self, entry: KeyQueue) -> bool:
        """Hold the entry's key and bring its deliveries in line with the store, before each send.

        A key another replica holds is dropped here (its owner delivers it; a later rescan brings back what is
        still pending when the owner lets go). Whatever commits after the read of the key's pending rows has a
        later id (one writer at a time), so the oldest row read here is the one to send.
        """
        lid = claims.lock_id(*entry.key)
        if lid not in self._claimed:
            await self._read(self._claim, [lid])
        if lid not in self._claimed:  # checked now: a rescan may have claimed it while this claim waited
            self._drop(entry)
            return False
        settling = set(self._settling)  # taken before the read: one committed during it may leave the set meanwhile
        held = {q.id for q in entry.items}  # what is handed over during the read was committed after it began
        rows = await self._read(claims.pending_of, *entry.key)
        self._refresh(entry, [r for r in rows if r.id not in settling and r.id not in self._settling], held)
        return True

    def _claim(self, conn: Any, ids: list[int]) -> set[int]:
        """On the reader thread (which serialises every claim and release): the ids held after the call.
        Checking ``_claimed`` here, not before queueing, keeps a lock from being taken twice (a session lock
        taken twice needs two releases)."""
        self._claimed |= claims.try_claim(conn, [i for i in ids if i not in self._claimed])
        return {i for i in ids if i in self._claimed}

    def _refresh(self, entry: KeyQueue, rows: list[Queued], held: set[int]) -> None:
        """Make the entry's deliveries those pending in the store (keeping what is known of the ones it has), and
        those handed over while the store was read (not in ``held``, what the entry had before the read): committed
        after the read began, they are pending, not gone; forgotten, each waited for the next poll."""
        have = {q.id: q for q in entry.items}
        items = []
        for row in rows:
            item = have.pop(row.id, None)
            if item is None:
                item = row
                self._known.add(row.id)
                depth_key = (row.route, row.target)
                self._depth[depth_key] = self._depth.get(depth_key, 0) + 1
            items.append(item)
        items += [have.pop(i) for i in list(have) if i not in held]
        self._forget(have.values())
        entry.items = deque(sorted(items, key=lambda q: q.id))

    def _drop(self, entry: KeyQueue) -> None:
        """Stop tracking a key's deliveries (they stay pending in the store for the replica that holds it)."""
        self._forget(entry.items)
        entry.items.clear()
        entry.scheduled = False
        if self._keys.get(entry.key) is entry:
            del self._keys[entry.key]

    def _forget(self, items: Iterable[Queued]) -> None:
        for item in items:
            if item.id in self._waiters:  # someone waits for its verdict: learn it from the store
                self._watched.add(item.id)
            self._known.discard(item.id)
            depth_key = (item.route, item.target)
            self._depth[depth_key] = self._depth.get(depth_key, 1) - 1
            if item.payload is not None:
                self._cached -= 1
                item.payload = None

    def _write_settled(self, item: Queued, write: Callable[[Any], bool], counted: Callable[[bool], None],
                       waiters: list[asyncio.Future[Outcome]]) -> None:
        """As the SQLite forwarder's, through the committer's hooks (no thread-safe future per write: session 29);
        the id leaves ``_settling`` on the writer thread after the batch is answered either way, before ``counted``
        (which must not keep it there should it fail) or the failure's take-up: a later read of the key sees the
        status committed, or the delivery pending again."""
        self._settling.add(item.id)

        def stored(written: bool) -> None:
            self._settling.discard(item.id)
            counted(written)

        def failed(error: BaseException) -> None:
            self._settling.discard(item.id)
            self._not_stored(error, item, waiters)

        if self.watchable(item.route, item.target):
            write = _announced(write)
        self.committer.write_later(write, after=stored, failed=failed)

    def _idle(self, entry: KeyQueue) -> None:
        super()._idle(entry)
        lid = claims.lock_id(*entry.key)
        self._last_idle[lid] = token = self._last_idle.get(lid, 0) + 1
        task = asyncio.get_running_loop().create_task(self._release_later(entry.key, token))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_later(self, key: tuple[str, str, str], token: int) -> None:
        """:meth:`_let_go`, its failure noted here: nobody awaits this task, and asyncio would report it as
        "Task exception was never retrieved", with a traceback, long after."""
        try:
            await self._let_go(key, token)
        except Exception as exc:  # a cut store: its session, ended, drops the claim (or the next idle lets go)
            log.warning("a finished key's claim was not let go (%s): the store drops it with the session",
                        failure_name(exc))

    async def _let_go(self, key: tuple[str, str, str], token: int) -> None:
        """Give a finished key back once its settled statuses are committed: released earlier, another replica
        could read a just-delivered message as still pending and send it again. Only the key's latest idle
        releases: an older one waited only for the writes queued before it, not for those of a later round.
        A barrier whose batch failed (the writer's connection cut, a failed COMMIT: the reader, holding the claim,
        fine) releases too: each write before it was committed or rolled back by then, and kept, the claim would
        wait for the key's next idle, which need never come (a delivery not stored is taken up again at once)."""
        try:
            await asyncio.wrap_future(self.committer.submit(_nothing))
        except Exception as exc:  # its batch failed: every write queued before it is resolved all the same
            log.info("a finished key's settled statuses were not all stored (%s): its claim is let go, what is "
                     "pending still is taken up again", failure_name(exc))
        lid = claims.lock_id(*key)
        if self._last_idle.get(lid) != token:
            return
        if lid not in self._claimed or any(claims.lock_id(*k) == lid for k in self._keys):
            return  # busy again (or sharing its lock id with a busy key): its next idle lets go
        del self._last_idle[lid]
        self._claimed.discard(lid)  # before the release is queued: a claim queued after it takes the lock anew
        await self._read(claims.release, [lid])

    async def _before_reader_closes(self, grace: float) -> None:
        """Settled statuses committed before the claims go with the reader connection."""
        for task in self._releases:
            task.cancel()
        if self.committer.running:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.wrap_future(self.committer.submit(_nothing)), grace)

    def _reader_lost(self) -> None:
        log.warning("the store connection was lost: %d claimed key(s) may be taken by another replica",
                    len(self._claimed))
        self._claimed.clear()
