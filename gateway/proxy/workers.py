"""The sidecar's conversion worker processes, driven from the event loop (no manager or feeder thread).

``concurrent.futures.ProcessPoolExecutor`` hands every message through two threads of its own in the
server process (a feeder that pickles and writes, a manager that reads, unpickles and wakes the loop):
~14% of the server's CPU at hundreds of messages a second (docs/performance.md). Here the event loop
writes the pickled work to each worker's pipe and reads the answers with a loop reader. Work that waits
while a worker is busy goes to it as one batch (one write, one wake-up); each answer comes back on its
own, as soon as it is ready.

What the executor gave stays: a worker that dies is replaced, and the work it held is tried once more,
alone, so that a message that kills its worker is refused (None) rather than taking others with it; a
reload starts new workers and lets the old ones finish what they hold; shutting down leaves no process.
A worker that has grown past its memory allowance (:mod:`gateway.procmemory`) says so, hands back unrun
what it still holds, and is retired like a reloaded one: a fresh worker takes that work and what follows.
A worker that has answered nothing for ``stuck_after`` seconds while it holds work is killed from here, and its
work taken the way of a worker that died: nothing inside a worker could end one C call that holds the GIL.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import multiprocessing
import multiprocessing.util  # its exit handler registered before ours, so ours runs first
import os
import pickle
import signal
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from gateway.procmemory import Allowance

log = logging.getLogger("overstap.convert")
BATCH = 8
"""At most this many waiting messages go to a worker in one write, and at most twice this many wait in its pipe:
the worker starts on the next message without waiting for the event loop to hand it over."""
READY = b"ready"
GROWN = b"grown"
"""A worker's word that it has outgrown its memory allowance: give it nothing more; what it answers from now on
comes back unrun (``ok`` None), for another worker."""
STUCK_AFTER = 60.0
"""Seconds a sidecar worker may work on one message (no answer while it holds work) before it is killed. The
costliest message within the ingest bounds (docs/batch.md, *Limits on a message*) converts in ~5 s."""
_UNREAPED: set[Any] = set()
"""Worker processes started and not yet reaped, by any pool of this process."""


def _kill_unreaped() -> None:
    """At interpreter exit, SIGKILL the workers still running (a pool that was never closed: a start that failed
    half-way). They ignore SIGTERM, which is all multiprocessing's own exit handler sends before it waits for
    them without a timeout: left alone they would keep the process from ever exiting."""
    for process in list(_UNREAPED):
        with contextlib.suppress(Exception):
            if process.is_alive():
                process.kill()


atexit.register(_kill_unreaped)


def _serve(init: Callable[..., None], init_args: tuple[Any, ...], requests: Connection, answers: Connection,
           growth_mb: int | None = None) -> None:
    """A worker's life: initialise, say ready, then run each batch and answer every task on its own. Once a task
    has left it past its memory allowance it says :data:`GROWN` and hands every later task back unrun."""
    init(*init_args)
    allowance = Allowance(growth_mb)
    grown = False
    answers.send_bytes(READY)
    while True:
        try:
            batch = pickle.loads(requests.recv_bytes())
        except EOFError:  # the server closed the pipe: shutting down or replaced
            return
        for task_id, fn, args in batch:
            if grown:
                answer = pickle.dumps((task_id, None, None), pickle.HIGHEST_PROTOCOL)
            else:
                try:
                    answer = pickle.dumps((task_id, True, fn(*args)), pickle.HIGHEST_PROTOCOL)
                except Exception as exc:  # raised, or a result that cannot travel back
                    answer = pickle.dumps((task_id, False, type(exc).__name__), pickle.HIGHEST_PROTOCOL)
            try:
                answers.send_bytes(answer)
                if not grown and allowance.exceeded():
                    grown = True
                    answers.send_bytes(GROWN)
            except OSError:  # the server closed the pipe: nobody waits for the answer
                return


def _frame(data: bytes) -> bytes:
    """``Connection.send_bytes``'s framing, so the worker reads with ``recv_bytes``."""
    if len(data) > 0x7FFFFFFF:
        return struct.pack("!iQ", -1, len(data)) + data
    return struct.pack("!i", len(data)) + data


@dataclass(slots=True, eq=False)
class _Task:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    deaths: int = 0


@dataclass(eq=False)
class _Worker:
    process: Any
    send_fd: int
    recv_fd: int
    held: dict[int, _Task] = field(default_factory=dict)
    out: bytearray = field(default_factory=bytearray)
    inbox: bytearray = field(default_factory=bytearray)
    ready: asyncio.Future[None] | None = None
    retiring: bool = False
    dead: bool = False
    ended: bool = False
    suspect: bool = False
    """It holds a message another worker died on: it gets nothing else until that one is answered."""
    handed_back: int = 0
    """Tasks this outgrown worker has handed back so far (they go to the front of the queue, in order)."""
    generation: int = 0
    """The pool's generation (its ``init_args``) this worker was started with: a reload makes a new one."""
    since: float = 0.0
    """When it last answered, or was given work holding none (monotonic): when its message in hand started."""
    stuck: bool = False
    """Killed for holding a message past ``stuck_after``; its pipe's end is on its way (:meth:`WorkerPool._died`)."""


class WorkerPool:
    """``processes`` spawned workers, each initialised by ``init(*init_args)``; ``await run(fn, *args)``; a
    worker grown by more than ``growth_mb`` since its start is replaced (None: never); a worker that holds work
    and has answered nothing for ``stuck_after`` seconds is killed (None: never)."""

    def __init__(self, processes: int, init: Callable[..., None], init_args: tuple[Any, ...],
                 growth_mb: int | None = None, stuck_after: float | None = None) -> None:
        self.processes = processes
        self.stuck_after = stuck_after
        self._watch_handle: asyncio.TimerHandle | None = None
        self.init = init
        self.init_args = init_args
        self.growth_mb = growth_mb
        self.outgrown = 0
        """Workers replaced because they outgrew their memory allowance."""
        self.context = multiprocessing.get_context("spawn")  # never forked from a process with threads
        self.workers: list[_Worker] = []
        self.retired: set[_Worker] = set()
        """Replaced by a reload, finishing what they hold."""
        self.waiting: deque[_Task] = deque()
        self.next_id = 0
        self.closed = False
        self.replacing = 0
        self.generation = 0
        """Raised by every reload: a replacement started with older ``init_args`` is not kept."""
        self.loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaping: set[asyncio.Future[None]] = set()
        self._scheduled = False

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every worker and wait until each has compiled its mappings."""
        self.loop = asyncio.get_running_loop()
        fresh = [self._spawn() for _ in range(self.processes)]
        try:
            await asyncio.gather(*(w.ready for w in fresh if w.ready is not None))
        except BaseException:
            for worker in fresh:
                self._end(worker, kill=True)
            raise
        if self.closed:  # closed while these started (a reload overlapping the stop): they get no work
            for worker in fresh:
                self._end(worker, wait=False)
            await asyncio.gather(*self._reaping)
            return
        self.workers += fresh
        if self.stuck_after and self._watch_handle is None:
            self._watch_handle = self.loop.call_later(min(1.0, self.stuck_after / 4), self._watch)
        self._dispatch()

    def _watch(self) -> None:
        """Kill each worker that has held a message for more than ``stuck_after`` without answering: the end of
        its pipe then takes the way of a worker that died (:meth:`_died`): what it held is tried once more, alone,
        and a message it is killed on twice is refused."""
        assert self.loop is not None and self.stuck_after
        since = time.monotonic() - self.stuck_after
        for worker in [*self.workers, *self.retired]:
            if worker.held and worker.since < since and not (worker.dead or worker.stuck):
                worker.stuck = True
                log.error("a conversion worker has worked on one message for more than %g s; ending it",
                          self.stuck_after)
                with contextlib.suppress(OSError):
                    os.kill(worker.process.pid, signal.SIGKILL)
        self._watch_handle = None if self.closed else self.loop.call_later(min(1.0, self.stuck_after / 4),
                                                                           self._watch)

    def _spawn(self) -> _Worker:
        loop = asyncio.get_running_loop()
        requests_r, requests_w = self.context.Pipe(duplex=False)
        answers_r, answers_w = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_serve, daemon=True, name="overstap-convert",
                                       args=(self.init, self.init_args, requests_r, answers_w, self.growth_mb))
        process.start()
        _UNREAPED.add(process)
        requests_r.close()
        answers_w.close()
        worker = _Worker(process, os.dup(requests_w.fileno()), os.dup(answers_r.fileno()), ready=loop.create_future(),
                         generation=self.generation)
        requests_w.close()
        answers_r.close()
        os.set_blocking(worker.send_fd, False)
        os.set_blocking(worker.recv_fd, False)
        loop.add_reader(worker.recv_fd, self._readable, worker)
        return worker

    def pids(self) -> list[int]:
        """The process ids of the workers taking work now."""
        return [w.process.pid for w in self.workers if not w.dead and not w.retiring]

    async def replace(self) -> None:
        """New workers (the caller changed ``init_args``) take over once ready; the old ones finish their work,
        and so does a replacement started with the old ``init_args`` while these were starting."""
        self.generation += 1
        await self.start()
        for worker in [w for w in self.workers if w.generation < self.generation]:
            self.workers.remove(worker)
            worker.retiring = True
            self.retired.add(worker)
            if not worker.held:
                self._end(worker, wait=False)

    async def aclose(self) -> None:
        """End every worker (work still waiting is answered None) and wait until no process is left."""
        self.closed = True
        if self._watch_handle is not None:
            self._watch_handle.cancel()
            self._watch_handle = None
        for task in list(self._tasks):  # a replacement starting now would outlive us
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in [*self.workers, *self.retired]:
            self._end(worker, wait=False)
        self.workers.clear()
        while self.waiting:
            task = self.waiting.popleft()
            if not task.future.done():
                task.future.set_result(None)
        await asyncio.gather(*self._reaping)

    def _end(self, worker: _Worker, kill: bool = False, wait: bool = True) -> None:
        """Close a worker's pipes once (it reads EOF and leaves) and reap it; ``kill``: SIGKILL it first."""
        worker.dead = True
        self.retired.discard(worker)
        if worker.ended:  # its descriptor numbers may belong to someone else by now
            return
        worker.ended = True
        for task in worker.held.values():  # closing: nobody will answer these
            if not task.future.done():
                task.future.set_result(None)
        worker.held.clear()
        assert self.loop is not None
        self.loop.remove_reader(worker.recv_fd)
        self.loop.remove_writer(worker.send_fd)
        for fd in (worker.send_fd, worker.recv_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if kill and worker.process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(worker.process.pid, signal.SIGKILL)
        if wait:
            _reap(worker.process)
        else:  # reaped in a thread: the loop goes on serving
            reaping = self.loop.run_in_executor(None, _reap, worker.process)
            self._reaping.add(reaping)
            reaping.add_done_callback(self._reaping.discard)

    # -- work ------------------------------------------------------------------------------------

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in a worker; None when it failed there or killed its worker twice."""
        if self.closed:
            return None
        task = _Task(fn, args, asyncio.get_running_loop().create_future())
        self.waiting.append(task)
        if not self.workers and not self.replacing:  # the last start failed: try again for this message
            self._start_replacement()
        if not self._scheduled:  # what arrives in this turn of the loop leaves in one write
            self._scheduled = True
            task.future.get_loop().call_soon(self._dispatch)
        return await task.future

    def _dispatch(self) -> None:
        """Give waiting work to workers with room, least loaded first; a message a worker died on goes alone
        to a worker holding nothing."""
        self._scheduled = False
        while self.waiting:
            ready = [w for w in self.workers if not (w.dead or w.retiring or w.suspect or w.ready is not None)]
            if self.waiting[0].deaths:
                ready = [w for w in ready if not w.held]
            ready = [w for w in ready if len(w.held) < 2 * BATCH]
            if not ready:
                return
            worker = min(ready, key=lambda w: len(w.held))
            if not worker.held:  # it starts on this batch now; while it holds work, each answer restarts the clock
                worker.since = time.monotonic()
            batch: list[tuple[int, Callable[..., Any], tuple[Any, ...]]] = []
            while self.waiting and len(batch) < BATCH and len(worker.held) < 2 * BATCH:
                if self.waiting[0].deaths and (batch or worker.held):
                    break  # a suspect goes alone
                task = self.waiting.popleft()
                if task.future.cancelled():
                    continue
                self.next_id += 1
                worker.held[self.next_id] = task
                batch.append((self.next_id, task.fn, task.args))
                if task.deaths:
                    worker.suspect = True
                    break
            if batch:
                self._write(worker, _frame(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)))

    def _write(self, worker: _Worker, data: bytes) -> None:
        if not worker.out:
            try:
                sent = os.write(worker.send_fd, data)
            except BlockingIOError:
                sent = 0
            except OSError:  # the worker is gone: its reader sees the end and handles it
                return
            if sent == len(data):
                return
            worker.out += data[sent:]
            asyncio.get_running_loop().add_writer(worker.send_fd, self._writable, worker)
        else:
            worker.out += data

    def _writable(self, worker: _Worker) -> None:
        try:
            sent = os.write(worker.send_fd, worker.out)
        except BlockingIOError:
            return
        except OSError:
            sent = len(worker.out)
        del worker.out[:sent]
        if not worker.out:
            asyncio.get_running_loop().remove_writer(worker.send_fd)

    def _readable(self, worker: _Worker) -> None:
        try:
            data = os.read(worker.recv_fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._died(worker)
            return
        inbox = worker.inbox
        inbox += data
        while len(inbox) >= 4:
            (size,) = struct.unpack_from("!i", inbox)
            start = 4
            if size == -1:
                if len(inbox) < 12:
                    break
                (size,) = struct.unpack_from("!Q", inbox, 4)
                start = 12
            if len(inbox) < start + size:
                break
            message = bytes(inbox[start:start + size])
            del inbox[:start + size]
            self._answered(worker, message)
        if worker.held:
            worker.since = time.monotonic()  # it answered: the next message it holds starts now
        else:
            worker.suspect = False
            if worker.retiring:
                self._end(worker, wait=False)
                return
        if self.waiting:
            self._dispatch()

    def _answered(self, worker: _Worker, message: bytes) -> None:
        if message == READY and worker.ready is not None:
            worker.ready.set_result(None)
            worker.ready = None
            return
        if message == GROWN:
            self._outgrown(worker)
            return
        task_id, ok, value = pickle.loads(message)
        task = worker.held.pop(task_id)
        if ok is None:  # handed back unrun by an outgrown worker: first in line again, in its order
            self.waiting.insert(worker.handed_back, task)
            worker.handed_back += 1
            return
        if not ok:
            log.error("a conversion step failed in its worker: %s", value)
            value = None
        if not task.future.done():
            task.future.set_result(value)

    def _outgrown(self, worker: _Worker) -> None:
        """Retire a worker past its memory allowance at once, as a reload does: it answers what it holds
        (``_readable`` ends it then) and a fresh one takes new work. Waiting for the fresh one to be ready
        would let the old one grow on meanwhile: a sender of fresh names must not outrun the replacement."""
        if worker not in self.workers or self.closed:  # retiring already, or everything is ending
            return
        self.workers.remove(worker)
        worker.retiring = True
        self.retired.add(worker)
        self.outgrown += 1
        log.warning("a conversion worker grew past its memory allowance (%s MB); replacing it", self.growth_mb)
        self._start_replacement()

    def _died(self, worker: _Worker) -> None:
        """A worker ended without being asked: its work is tried once more (alone), and it is replaced."""
        held = list(worker.held.values())
        worker.held.clear()
        if worker.ready is not None and not worker.ready.done():
            worker.ready.set_exception(RuntimeError("a conversion worker ended while starting; see its log"))
            worker.ready = None
        self._end(worker, kill=True)
        for task in reversed(held):
            task.deaths += 1
            if task.deaths >= 2 or self.closed:
                if not task.future.done():
                    task.future.set_result(None)
            else:
                self.waiting.appendleft(task)
        if worker not in self.workers:  # starting or retiring: no replacement of its own
            self._dispatch()
            return
        self.workers.remove(worker)
        if not self.closed:
            log.error("a conversion worker died; starting a new one and converting its %d message(s) again",
                      len(held))
            self._start_replacement()

    def _start_replacement(self) -> None:
        self.replacing += 1  # now, not when the task first runs: a message arriving meanwhile must not start another
        task = asyncio.get_running_loop().create_task(self._replace_one())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _replace_one(self) -> None:
        fresh: _Worker | None = None
        try:
            fresh = self._spawn()
            await fresh.ready  # type: ignore[misc]
        except asyncio.CancelledError:
            if fresh is not None:
                self._end(fresh, kill=True, wait=False)
            raise
        except Exception as exc:  # cannot start a worker: what waits is refused; the next message tries again
            log.error("could not start a conversion worker: %s", exc)
            if not self.workers:
                while self.waiting:
                    task = self.waiting.popleft()
                    if not task.future.done():
                        task.future.set_result(None)
            return
        finally:
            self.replacing -= 1
        current = [w for w in self.workers if w.generation == self.generation and not (w.dead or w.retiring)]
        if self.closed or fresh.generation != self.generation or len(current) >= self.processes:
            self._end(fresh, wait=False)  # closing, started before a reload, or no longer needed
            self._dispatch()
            return
        self.workers.append(fresh)
        self._dispatch()


def _reap(process: Any) -> None:
    """Wait for a worker process to end; kill it if it does not within seconds."""
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)
    _UNREAPED.discard(process)
