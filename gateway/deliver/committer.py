"""Group commit: one writer thread turns many concurrent outbox writes into one transaction and one fsync.

With ``synchronous=FULL`` a commit costs a disk flush (milliseconds); committing each inbound message
alone would cap the sidecar at a few hundred messages a second. Every caller still gets its answer
only after the transaction holding its write is committed, so no acknowledgement ever precedes its
commit. Each write runs inside its own SAVEPOINT, so one failing write does not undo its neighbours.
The answers of one commit go back to the event loop in one hand-over (one ``call_soon_threadsafe``), not one
thread-safe future and one wake-up of the loop per write.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from .store import failure_name

T = TypeVar("T")
log = logging.getLogger("overstap.outbox")

Write = Callable[[sqlite3.Connection], Any]


@dataclass(slots=True)
class _Job:
    fn: Write
    future: Future[Any] | asyncio.Future[Any] | None
    """A thread-safe future (:meth:`GroupCommitter.submit`), an event loop's (:meth:`GroupCommitter.enqueue`,
    answered on that loop), or None (nobody waits)."""
    after: Callable[[Any], None] | None = None
    """Run with ``fn``'s result on the writer thread once its transaction is committed, never when it is not."""
    failed: Callable[[BaseException], None] | None = None
    """Run with the error on the writer thread when ``fn`` or its transaction failed (nothing of it was stored)."""


_STOP = object()


class GroupCommitter:
    """A single writer thread with a queue; ``await write(fn)`` returns once ``fn``'s effect is durable."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, max_batch: int = 512,
                 on_commit: Callable[[int, float], None] | None = None) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.max_batch = max_batch
        self.on_commit = on_commit
        self.failed: BaseException | None = None
        self.commits = 0
        self._queued = itertools.count()
        """Each write queued takes one number (``next`` of a C iterator: one step under the GIL, so writes queued from
        the event loop and from other threads at once are all counted, without a lock on the inbound path)."""
        self._answered = 0
        """Writes answered (committed or refused), counted by the writer thread only, before it answers them."""

    def start(self) -> None:
        if self._thread is None:
            ready: Future[None] = Future()
            self._thread = threading.Thread(target=self._run, args=(ready,), name="outbox-writer", daemon=True)
            self._thread.start()
            ready.result()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then end the writer thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def waiting(self) -> int:
        """Writes queued or in the commit under way, none of them answered yet (``overstap_outbox_writes_waiting``):
        a figure that stays up says the store cannot keep up (or a writer elsewhere holds its lock). Queued minus
        answered, not the queue's length plus the batch in hand: a write the writer has taken off the queue but not
        yet counted in its batch is never missed (session 29). ``answered`` is read first, so a write waiting at the
        start or the end of this read is always in the figure (one answered meanwhile may be, for that one read)."""
        answered = self._answered
        return _taken(self._queued) - answered

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in the next transaction and return its result after COMMIT (re-raising its error)."""
        return await self.enqueue(fn)

    def enqueue(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn`` now (in order with every other write) and return a future of the running event loop
        that has its result after COMMIT."""
        if not self.running:
            raise RuntimeError("the outbox writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        next(self._queued)
        self._queue.put(_Job(fn, future))
        return future

    def submit(self, fn: Callable[[sqlite3.Connection], T], *, after: Callable[[T], None] | None = None) -> Future[T]:
        """Queue ``fn``; a thread-safe future of its result after COMMIT. ``after``: as :meth:`write_later`."""
        if not self.running:
            raise RuntimeError("the outbox writer is not running")
        future: Future[T] = Future()
        next(self._queued)
        self._queue.put(_Job(fn, future, after))
        return future

    def write_later(self, fn: Write, *, after: Callable[[Any], None] | None = None,
                    failed: Callable[[BaseException], None] | None = None) -> None:
        """Queue a write nobody waits for (delivery bookkeeping); it still commits in order. ``after`` is given its
        result once the transaction is committed (metrics of what the write recorded), and never runs when the write
        or the COMMIT failed: what was not stored must not be counted. ``failed`` is given the error then instead
        (a settled status taken up again): what :meth:`submit`'s future and a done-callback told, without a
        thread-safe future (a lock and a condition) per write on the server's busiest path (session 28)."""
        if failed is not None and not self.running:
            raise RuntimeError("the outbox writer is not running")  # as submit: the caller hears it, not nobody
        next(self._queued)
        self._queue.put(_Job(fn, None, after, failed))

    def _run(self, ready: Future[None]) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        stopping = False
        try:
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[_Job] = [first]
                while len(batch) < self.max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                conn = self._usable(conn, batch)
                if conn is not None:
                    self._commit(conn, batch)
        finally:
            if conn is not None:
                conn.close()

    def _usable(self, conn: Any, batch: list[_Job]) -> Any:
        """The connection, or a new one when the database dropped it (a PostgreSQL restart or failover): the
        batch that found it broken was refused (nothing acknowledged), the next ones go through again. While
        no connection can be made, each batch is refused with the reason."""
        if conn is not None and not getattr(conn, "closed", False):
            return conn
        try:
            fresh = self._connect()
        except Exception as exc:
            self.failed = exc
            log.error("the outbox database cannot be reached: %s", type(exc).__name__)
            self._answered += len(batch)
            _answer([(job, None, exc) for job in batch])
            return None
        log.warning("outbox connection renewed")
        return fresh

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        started = time.perf_counter()
        results: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    value = job.fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((job, None, exc))
                    if job.future is None:
                        log.error("outbox write failed: %s", type(exc).__name__)
                    continue
                conn.execute("RELEASE job")
                results.append((job, value, None))
            conn.execute("COMMIT")
        except Exception as exc:
            self.failed = exc
            log.error("outbox commit failed: %s", failure_name(exc))  # never the text: it can quote data
            with contextlib.suppress(Exception):  # sqlite3 or psycopg: the rollback of a failed commit
                conn.execute("ROLLBACK")
            self._answered += len(batch)
            _answer([(job, None, exc) for job in batch])
            return
        self._answered += len(batch)  # before any answer: whoever has its result sees the gauge without it
        self.failed = None
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(len(batch), time.perf_counter() - started)
        _after_commit(results)
        _answer(results)


Answered = list[tuple[_Job, Any, BaseException | None]]


def _taken(counter: itertools.count[int]) -> int:
    """How many numbers ``counter`` has given, without taking one: its repr is ``count(n)`` (no other reader)."""
    return int(repr(counter)[6:-1])


def _after_commit(results: Answered) -> None:
    """The ``after`` of each write the committed transaction holds; one that fails is logged, never undoes it."""
    for job, value, error in results:
        if job.after is not None and error is None:
            try:
                job.after(value)
            except Exception as exc:
                log.error("after an outbox write: %s", type(exc).__name__)


def _answer(results: Answered) -> None:
    """Settle the futures of a batch: thread-safe ones here, each event loop's in one call on that loop."""
    on_loops: dict[asyncio.AbstractEventLoop, Answered] = {}
    for item in results:
        if item[2] is not None and item[0].failed is not None:
            _tell_failed(item[0].failed, item[2])
        future = item[0].future
        if isinstance(future, asyncio.Future):
            on_loops.setdefault(future.get_loop(), []).append(item)
        elif future is not None:
            _settle(future, item[1], item[2])
    for loop, items in on_loops.items():
        with contextlib.suppress(RuntimeError):  # a loop that is closed has nobody left to answer
            loop.call_soon_threadsafe(_settle_all, items)


def _tell_failed(failed: Callable[[BaseException], None], error: BaseException) -> None:
    try:
        failed(error)
    except Exception as exc:  # one hook that fails must not keep the batch's other answers from their callers
        log.error("after an outbox write that failed: %s", type(exc).__name__)


def _settle_all(items: Answered) -> None:
    for job, value, error in items:
        _settle(job.future, value, error)  # type: ignore[arg-type]


def _settle(future: Future[Any] | asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # cancelled by a caller who stopped waiting
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
