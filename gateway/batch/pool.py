"""Run chunks on a process pool with bounded work in flight, and hand results back in input order.

Bounded: at most ``window`` chunks are submitted or waiting to be handed back, so memory stays
flat however large the input. Ordered: results are released strictly by ordinal, which is what
lets the journal describe progress as one number. Crash-isolating: if a message kills its worker
(a segfault, the OOM killer), the chunks in flight are retried one message at a time, one at a
time, and the message that kills a worker on its own is reported as failed instead of stopping the run.
Memory-bounded: a chunk whose worker grew past its allowance (:mod:`gateway.procmemory`) has the pool's
workers replaced; the old ones finish the chunks they were given. Deadline-bound: a worker whose message has run
for twice the per-message deadline plus a second (its alarm could not end it: one C call holding the GIL, or
signals blocked) is killed from here, and the message is reported as one that took its worker down.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from gateway.cores import usable_cores
from gateway.mapping import Registry
from gateway.procmemory import Allowance

from .budget import Budget
from .placement import ReadPlacement, read_here
from .work import Chunk, ChunkResult, Clocks, WorkConfig, Worker, rejoined, run_chunk, share_registry, start_worker

WORKER_NICE = 10
"""How much lower the workers run when they and the parent outnumber the cores (:func:`worker_nice`)."""
WORKER_DIED = ("the worker process died while converting this input (a crash, out of memory, or stuck past "
               "twice the per-message deadline)")


def _context() -> multiprocessing.context.BaseContext:
    # fork on Linux: workers start in milliseconds and need no importable __main__. The runner starts
    # the pool before any thread of its own (the progress bar), so nothing is forked mid-lock.
    # Elsewhere fork is unsafe (macOS) or absent (Windows): spawn.
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def worker_nice(workers: int) -> int:
    """The workers' niceness: 0, or :data:`WORKER_NICE` when the parent and the workers outnumber the cores.

    Why: the parent renders every message in order, the run's serial path; with more processes than cores a
    worker waking for its next chunk takes the parent's core (three processes on two cores share them by thirds),
    while the workers can run ahead within the window. Lower, they run on what the parent leaves."""
    return WORKER_NICE if workers + 1 > usable_cores() else 0


def _noop() -> int:
    return os.getpid()


class WorkersFailed(RuntimeError):
    """The worker processes cannot run at all (their start-up fails), so no message is to blame."""


class InProcessOutgrown(RuntimeError):
    """Converting in this process (``--workers 0``), it has grown past its allowance since the run began; nothing
    can replace it, and libxml2's dictionary of names never shrinks (gateway/procmemory.py). Raised before a chunk
    other than a run's first, so the run stops between chunks, as when interrupted, and ``--resume`` continues."""


def _split(chunk: Chunk) -> list[Chunk]:
    return [Chunk(chunk.first + i, [member]) for i, member in enumerate(chunk.members)]


class OrderedPool:
    """``workers`` processes (0: convert in this process) converting chunks, results in order."""

    def __init__(self, config: WorkConfig, workers: int, window: int | None = None,
                 registry: Registry | None = None, quarantined: tuple[int, int] = (0, 0)) -> None:
        self.config = config
        self.budget = Budget(config.quarantine, *quarantined, context=_context())
        self.registry = registry
        self.workers = workers
        self.window = window or max(2, workers * 4)
        self._executor: ProcessPoolExecutor | None = None
        self._current: set[Future[ChunkResult]] = set()
        """Chunks given to the current workers (not to outgrown ones)."""
        self._outgrown: list[ProcessPoolExecutor] = []
        """Replaced for their memory, finishing the chunks they hold."""
        self._local: Worker | None = None
        self._clocks: list[Clocks] = []
        """The message clocks of the current workers and of the outgrown ones (:meth:`_end_stuck`)."""
        self.crashes = 0
        self.renewals = 0
        """Times the workers were replaced because one outgrew its memory allowance."""
        self.placement = ReadPlacement()
        """Whether the parent reads the ZIP members it sends, while it waits for the workers (placement.py)."""

    def _start(self) -> ProcessPoolExecutor:
        share_registry(self.registry)
        clocks = Clocks(_context(), self.workers)
        self._clocks.append(clocks)
        return ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=start_worker,
                                   initargs=(self.config, os.getpid(), self.budget, worker_nice(self.workers), clocks))

    def start(self) -> None:
        """Launch the worker processes now (before the caller starts threads); idempotent."""
        if self.workers and self._executor is None:
            self._executor = self._start()
            try:
                self._executor.submit(_noop).result()
            except BrokenProcessPool:  # not a message's fault: the workers cannot even start
                self.shutdown()
                raise WorkersFailed("worker processes die on start-up (see the error above)") from None

    def _local_worker(self) -> Worker:
        if self._local is None:
            self._local = Worker(self.config, self.registry, self.budget)
        return self._local

    def run(self, chunks: Iterator[Chunk], stop: Callable[[], bool],
            may_stop_outgrown: bool = True) -> Iterator[ChunkResult]:
        """Results for ``chunks`` in order of ``first``; returns early (work in flight dropped) once ``stop()``.

        Without worker processes, :class:`InProcessOutgrown` once this process has outgrown its allowance, before
        a chunk other than the first (so a run always converts one, and never stops with nothing left);
        ``may_stop_outgrown=False`` (a ledger in memory, which a stop would lose) goes on instead."""
        if self.workers == 0:
            self._local_worker()  # built before the allowance's baseline: its start-up is not growth
            allowance = Allowance(self.config.worker_growth_mb if may_stop_outgrown else 0)
            converted = False
            for chunk in chunks:
                if stop():
                    return
                if converted and allowance.exceeded():
                    raise InProcessOutgrown(self.config.worker_growth_mb)
                yield from self._convert_here(chunk)
                converted = True
            return
        self.start()
        try:
            yield from self._run_pool(chunks, stop)
        finally:
            self.shutdown()

    def _run_pool(self, chunks: Iterator[Chunk], stop: Callable[[], bool]) -> Iterator[ChunkResult]:
        pending: dict[Future[ChunkResult], Chunk] = {}
        ready: dict[int, ChunkResult] = {}
        retry: deque[Chunk] = deque()  # single members to re-run one by one after a worker died
        solo: Future[ChunkResult] | None = None  # the one retried member in flight, if any
        next_first: int | None = None
        exhausted = False
        while not stop():
            broken: list[Chunk] = []  # chunks lost with a worker, or refused by an already broken pool
            alone = False
            if retry and not pending:
                solo = self._submit(retry.popleft(), pending, broken)
            elif not retry:
                while len(pending) + len(ready) < self.window and not exhausted and not broken:
                    chunk = next(chunks, None)  # type: ignore[arg-type]
                    if chunk is None:
                        exhausted = True
                        break
                    next_first = chunk.first if next_first is None else next_first
                    if self.placement.parent_reads:
                        chunk = read_here(chunk, self.config.max_bytes)
                    self._submit(chunk, pending, broken)
            if not pending and not broken:
                break
            renew = False
            if not broken:
                started = time.monotonic()
                done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                self.placement.waited(time.monotonic() - started)
                self._end_stuck()
                for future in done:
                    chunk = pending.pop(future)
                    current = future in self._current
                    self._current.discard(future)
                    try:
                        ready[chunk.first] = result = rejoined(future.result(), chunk)
                        renew = renew or (result.outgrown and current)
                    except BrokenProcessPool:
                        broken.append(chunk)
                        alone = future is solo
                    except Exception as exc:  # a bug outside the per-message guard: never the end of the run
                        if chunk.count > 1:
                            retry.extend(_split(chunk))
                        else:
                            ready[chunk.first] = self._local_worker().crashed(
                                chunk, f"internal error in the worker: {type(exc).__name__}")
                    if future is solo:
                        solo = None
            if renew and not broken:  # outside the chunk's guard: workers that cannot start end the run (WorkersFailed)
                self._renew()
            if broken:
                broken += pending.values()
                pending.clear()
                solo = None
                self._restart()
                if alone and len(broken) == 1:  # it ran by itself and took its worker down: the culprit
                    self.crashes += 1
                    ready[broken[0].first] = self._local_worker().crashed(broken[0], WORKER_DIED)
                else:
                    retry.extendleft(reversed([one for chunk in sorted(broken, key=lambda c: c.first)
                                               for one in _split(chunk)]))
            while next_first is not None and next_first in ready:
                result = ready.pop(next_first)
                next_first += result.count
                self.placement.handed_back()
                yield result

    def _end_stuck(self) -> None:
        """Kill each worker whose message has run for more than twice the deadline plus a second: its pending chunks
        then fail as a broken pool, and the crash path retries them one message at a time and reports the one that
        is killed alone (:data:`WORKER_DIED`). Only live children of this process are signalled."""
        if self.config.timeout <= 0:
            return
        since = time.monotonic() - (2 * self.config.timeout + 1)
        stuck = [pid for clocks in self._clocks for pid in clocks.stuck(since)]
        if stuck:
            children = {child.pid for child in multiprocessing.active_children()}
            for pid in stuck:
                if pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)

    def _convert_here(self, chunk: Chunk) -> list[ChunkResult]:
        """Convert in this process; a bug outside the per-message guard fails that one member, not the run."""
        worker = self._local_worker()
        try:
            return [rejoined(worker.run(chunk), chunk)]
        except Exception as exc:
            if chunk.count == 1:
                return [worker.crashed(chunk, f"internal error in the worker: {type(exc).__name__}")]
        return [result for one in _split(chunk) for result in self._convert_here(one)]

    def _submit(self, chunk: Chunk, pending: dict[Future[ChunkResult], Chunk],
                broken: list[Chunk]) -> Future[ChunkResult] | None:
        assert self._executor is not None
        try:
            future = self._executor.submit(run_chunk, chunk)
        except BrokenProcessPool:  # a worker died since the last look; this chunk never ran
            broken.append(chunk)
            return None
        pending[future] = chunk
        self._current.add(future)
        return future

    def _renew(self) -> None:
        """New workers for the chunks to come; the outgrown pool finishes those it holds, then ends."""
        assert self._executor is not None
        old, self._executor = self._executor, None
        self._current.clear()  # the old pool's chunks: none of them renews again
        old.shutdown(wait=False)  # pending chunks still run; its processes end after them
        self._outgrown.append(old)
        self.renewals += 1
        self.start()

    def _restart(self) -> None:
        self.shutdown()
        self._current.clear()
        self.start()

    def shutdown(self) -> None:
        """Stop the workers; those mid-chunk finish it (they ignore Ctrl-C), queued chunks are dropped."""
        while self._outgrown:
            self._outgrown.pop().shutdown(wait=True, cancel_futures=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        self._clocks.clear()  # their workers are gone: a stale stamp must never name a pid used again
