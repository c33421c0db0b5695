"""The sidecar's own conversion worker pool (gateway/proxy/workers.py) keeps what ProcessPoolExecutor gave:
every answer goes to its own caller, a message that kills its worker is refused without taking the messages
beside it along, a replaced worker set finishes what it holds, and closing leaves no process behind."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest
import uvloop
from proxy_helpers import alive
from worker_tasks import grow, grow_marked, held, init, init_slow, work

from gateway.proxy.workers import WorkerPool


def _run(main: object) -> object:
    return uvloop.run(main)  # type: ignore[arg-type]


def test_each_caller_gets_its_own_answer_with_many_in_flight() -> None:
    async def main() -> None:
        pool = WorkerPool(2, init, ("one",))
        await pool.start()
        try:
            answers = await asyncio.gather(*(pool.run(work, n) for n in range(300)))
            assert [a[0] for a in answers] == [n * n for n in range(300)]  # type: ignore[index]
            assert {a[1] for a in answers} == set(pool.pids())  # type: ignore[index]
            assert await pool.run(work, -2) is None  # raised in the worker: refused, the worker stays
            assert (await pool.run(work, 3))[0] == 9
        finally:
            await pool.aclose()

    _run(main())


def test_a_message_that_kills_its_worker_is_refused_and_the_others_are_answered() -> None:
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",))
        await pool.start()
        try:
            before = set(pool.pids())
            values = [*range(10), -1, *range(10, 20)]
            answers = await asyncio.gather(*(pool.run(work, v, 0.005) for v in values))
            assert answers[10] is None  # died on twice: refused, never run in this process
            assert [a[0] for a in answers if a is not None] == [v * v for v in values if v != -1]  # type: ignore[index]
            assert pool.pids() and not before & set(pool.pids())  # a new worker took over
            assert (await pool.run(work, 4))[0] == 16
        finally:
            await pool.aclose()

    _run(main())


def test_a_message_that_keeps_its_worker_stuck_is_refused_and_the_others_are_answered() -> None:
    """Review F2: a conversion stuck in one C call that holds the GIL. The server kills the worker once it has held
    the message for ``stuck_after`` without an answer, tries it once more alone, and refuses it when stuck again."""
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",), stuck_after=1.0)
        await pool.start()
        try:
            before = set(pool.pids())
            values = [*range(5), -3, *range(5, 10)]
            answers = await asyncio.gather(*(pool.run(work, v) for v in values))
            assert answers[5] is None
            assert [a[0] for a in answers if a is not None] == [v * v for v in values if v != -3]  # type: ignore[index]
            assert pool.pids() and not before & set(pool.pids())
        finally:
            await pool.aclose()

    _run(main())


def test_a_worker_busy_with_many_quick_messages_is_not_taken_for_stuck() -> None:
    """The clock runs per message: each answer restarts it, so a worker holding 2 s of 0.1 s messages is kept."""
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",), stuck_after=0.5)
        await pool.start()
        try:
            before = set(pool.pids())
            answers = await asyncio.gather(*(pool.run(work, n, 0.1) for n in range(20)))
            assert [a[0] for a in answers] == [n * n for n in range(20)]  # type: ignore[index]
            assert set(pool.pids()) == before == {a[1] for a in answers}  # type: ignore[index]
        finally:
            await pool.aclose()

    _run(main())


def test_replace_lets_the_old_workers_finish_and_the_new_ones_take_over(tmp_path: Path) -> None:
    async def main() -> None:
        pool = WorkerPool(1, init, ("old",))
        await pool.start()
        old = set(pool.pids())
        try:
            slow = asyncio.ensure_future(pool.run(work, 5, 0.5))
            await asyncio.sleep(0.1)
            pool.init_args = ("new",)
            await pool.replace()
            square, pid, marker = await slow  # type: ignore[misc]
            assert (square, marker) == (25, "old") and pid in old
            square, pid, marker = await pool.run(work, 6)  # type: ignore[misc]
            assert (square, marker) == (36, "new") and pid not in old
            for _ in range(100):
                if not alive(old):
                    break
                await asyncio.sleep(0.05)
            assert not alive(old), "the replaced worker is still running"
            # Still busy when the pool closes: held until a file that never comes, where a pause of 5 s ended
            # before a loaded host had started the new worker (the old one was then rightly ended at once).
            slow = asyncio.ensure_future(pool.run(held, str(tmp_path / "never"), 7))
            await asyncio.sleep(0.2)
            busy = set(pool.pids())
            await pool.replace()
            assert pool.retired and busy & alive(busy)
        finally:
            await pool.aclose()
        assert await slow is None and not alive(busy), "a replaced worker outlived the pool"

    _run(main())


def test_closing_leaves_no_process_and_refuses_what_waits() -> None:
    async def main() -> None:
        pool = WorkerPool(2, init, ("one",))
        await pool.start()
        pids = set(pool.pids())
        busy = [asyncio.ensure_future(pool.run(work, n, 0.2)) for n in range(40)]
        await asyncio.sleep(0.05)
        await pool.aclose()
        assert not alive(pids)
        results = await asyncio.gather(*busy)
        assert None in results  # what had not reached a worker is refused, not left waiting
        assert await pool.run(work, 2) is None

    _run(main())


def test_a_worker_past_its_memory_allowance_is_replaced_without_losing_work() -> None:
    """A worker grown by more than ``growth_mb`` says so after its batch; it converts on until a fresh worker is
    ready, then answers what it holds and ends. Every caller is answered, and no worker grows much past it."""
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",), growth_mb=40)
        await pool.start()
        first = set(pool.pids())
        seen: set[int] = set()
        try:
            for n in range(32):  # 8 MB a message: past 40 MB after the fifth
                value, pid = await pool.run(grow, n, 8)  # type: ignore[misc]
                assert value == n
                seen.add(pid)
            assert pool.outgrown >= 3  # 256 MB in all, 40 allowed a worker: replaced again and again
            assert first < seen and pool.outgrown in (len(seen) - 1, len(seen))  # the last one's word may be late
            for _ in range(100):
                if not alive(seen - set(pool.pids())):
                    break
                await asyncio.sleep(0.05)
            assert not alive(seen - set(pool.pids())), "a replaced worker is still running"
            grown = await asyncio.gather(*(pool.run(grow, n, 4) for n in range(60)))  # many held at a time:
            assert [a[0] for a in grown] == list(range(60))  # type: ignore[index]  # the rest handed back
            per_worker = collections.Counter(a[1] for a in grown)  # type: ignore[index]
            assert max(per_worker.values()) <= 11, per_worker  # 10 x 4 MB is the allowance; the next one is over
            seen |= set(per_worker)
            answers = await asyncio.gather(*(pool.run(work, n) for n in range(50)))
            assert [a[0] for a in answers] == [n * n for n in range(50)]  # type: ignore[index]
        finally:
            await pool.aclose()
        assert not alive(seen)

    _run(asyncio.wait_for(main(), 120))  # a worker nobody replaces would leave the work waiting


def test_without_an_allowance_a_growing_worker_is_kept() -> None:
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",), growth_mb=0)
        await pool.start()
        try:
            pids = {(await pool.run(grow, n, 8))[1] for n in range(10)}  # type: ignore[index]
            assert len(pids) == 1 and pool.outgrown == 0
        finally:
            await pool.aclose()

    _run(asyncio.wait_for(main(), 120))  # a worker nobody replaces would leave the work waiting


def test_a_reload_while_an_outgrown_worker_is_replaced_leaves_only_new_workers() -> None:
    """The replacement started with the old mappings before the reload is not kept beside the reload's workers."""
    async def main() -> None:
        pool = WorkerPool(1, init_slow, ("old",), growth_mb=20)
        await pool.start()
        try:
            n = 0
            while not pool.outgrown:
                await pool.run(grow_marked, n, 8)
                n += 1
                await asyncio.sleep(0.05)  # its word after the answer is read before the next message goes
            assert pool.replacing == 1  # its replacement is starting, with the old init_args
            pool.init_args = ("new",)
            await pool.replace()  # ready before the replacement started with the old mappings
            await asyncio.sleep(3)  # that one is ready by now, and must not be kept
            assert len(pool.pids()) == 1
            answers = await asyncio.gather(*(pool.run(work, n) for n in range(20)))
            assert {a[2] for a in answers} == {"new"}  # type: ignore[index]
        finally:
            await pool.aclose()

    _run(asyncio.wait_for(main(), 120))


def test_a_message_arriving_as_a_worker_outgrows_does_not_start_a_second_replacement() -> None:
    """The replacement counts as starting from the moment it is decided, not when its task first runs."""
    async def main() -> None:
        pool = WorkerPool(1, init, ("one",), growth_mb=20)
        await pool.start()
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def request() -> object:  # a request whose body completed in the same turn as the worker's word
            await gate
            return await pool.run(grow, 100, 1)

        waiting = asyncio.ensure_future(request())
        outgrown = pool._outgrown

        def first_the_request(worker: object) -> None:
            if not gate.done():
                gate.set_result(None)
            outgrown(worker)  # type: ignore[arg-type]

        pool._outgrown = first_the_request  # type: ignore[method-assign]
        try:
            n = 0
            while not pool.outgrown:
                await pool.run(grow, n, 8)
                n += 1
            assert (await waiting)[0] == 100  # type: ignore[index]
            await asyncio.sleep(2)
            assert len(pool.pids()) == 1
        finally:
            await pool.aclose()

    _run(asyncio.wait_for(main(), 120))


def test_the_server_does_not_parse_a_message_its_worker_failed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message a worker died on (or failed on outside the conversion) may be what kills workers: the server
    answers it without facts rather than parse it in the process every other message depends on."""
    from gateway.mapping import Registry
    from gateway.proxy import converting
    from gateway.proxy.config import ServeConfig

    parsed: list[bytes] = []
    monkeypatch.setattr(converting, "facts_of", lambda body: parsed.append(body) or converting.Facts())

    async def main() -> object:
        pool = converting.ConversionPool(ServeConfig(convert_processes=1), Registry(dirs=[], files=[]), {}, 1)
        await pool.start()
        try:  # a route the worker has no converter for: the step fails there, and the pool answers None
            return await pool.convert("nowhere", "nowhere", b"<a><referentienummer>R1</referentienummer></a>")
        finally:
            await pool.shutdown()

    converted = _run(asyncio.wait_for(main(), 120))
    assert converted.failure is not None and "conversion worker stopped" in converted.failure.message  # type: ignore[attr-defined]
    assert converted.facts == converting.Facts() and parsed == []  # type: ignore[attr-defined]


def test_the_sidecar_ends_a_worker_stuck_on_one_message() -> None:
    """The sidecar's own pool runs with the watchdog the tests above drive with a short ``stuck_after``."""
    from gateway.mapping import Registry
    from gateway.proxy import converting
    from gateway.proxy.config import ServeConfig
    from gateway.proxy.workers import STUCK_AFTER

    async def main() -> float | None:
        pool = converting.ConversionPool(ServeConfig(convert_processes=1), Registry(dirs=[], files=[]), {}, 1)
        await pool.start()
        try:
            return pool.pool.stuck_after if pool.pool is not None else None
        finally:
            await pool.shutdown()

    assert _run(asyncio.wait_for(main(), 120)) == STUCK_AFTER == 60


def _spawned(pool: WorkerPool) -> list[int]:
    """Every worker process the pool has started, reaped or not (its _spawn, counted)."""
    return pool._test_spawned  # type: ignore[attr-defined,no-any-return]


def _counting(pool: WorkerPool) -> WorkerPool:
    original = pool._spawn
    pool._test_spawned = []  # type: ignore[attr-defined]

    def spawn() -> object:
        worker = original()
        pool._test_spawned.append(worker.process.pid)  # type: ignore[attr-defined]
        return worker

    pool._spawn = spawn  # type: ignore[method-assign]
    return pool


def test_a_reload_overlapping_the_close_leaves_no_process() -> None:
    """A SIGHUP reload whose new workers are still starting when the sidecar stops (found by the review): the
    closed pool ends them once they are up instead of taking them on, and nothing outlives the stop."""
    async def main() -> None:
        pool = _counting(WorkerPool(1, init_slow, ("old",)))
        await pool.start()
        reload = asyncio.ensure_future(pool.replace())  # the same slow initialiser: 2 s to start
        await asyncio.sleep(0.3)  # the new worker is spawned and starting
        assert len(_spawned(pool)) == 2
        await pool.aclose()
        await reload
        assert pool.pids() == [] and pool.workers == []
        assert not alive(set(_spawned(pool)))

    _run(asyncio.wait_for(main(), 120))


def test_a_reload_that_reaches_the_pool_after_the_stop_starts_no_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The other half of the overlap: a reload whose turn comes once the sidecar has shut its pool down must not
    build a new one (found by the review: it started a whole new pool after the stop)."""
    from gateway.mapping import Registry
    from gateway.proxy import converting
    from gateway.proxy.config import ServeConfig

    started: list[int] = []
    original = converting.WorkerPool.start

    async def counted(self: WorkerPool) -> None:
        started.append(1)
        await original(self)

    monkeypatch.setattr(converting.WorkerPool, "start", counted)

    async def main() -> None:
        pool = converting.ConversionPool(ServeConfig(convert_processes=1), Registry(dirs=[], files=[]), {}, 1)
        await pool.start()
        await pool.shutdown()
        await pool.replace({})
        assert pool.pool is None and started == [1]

    _run(asyncio.wait_for(main(), 120))


def test_a_pool_shut_down_while_it_starts_keeps_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same overlap one step up (found by the review; the gateway reloads only after its start, but a
    ConversionPool must not depend on that): workers that come up after the shutdown are ended, not kept."""
    from gateway.mapping import Registry
    from gateway.proxy import converting
    from gateway.proxy.config import ServeConfig

    pools: list[WorkerPool] = []
    original = converting.WorkerPool.start

    async def slow_start(self: WorkerPool) -> None:
        pools.append(_counting(self))
        await asyncio.sleep(0.5)  # the shutdown comes in the meantime
        await original(self)

    monkeypatch.setattr(converting.WorkerPool, "start", slow_start)

    async def main() -> None:
        pool = converting.ConversionPool(ServeConfig(convert_processes=1), Registry(dirs=[], files=[]), {}, 1)
        starting = asyncio.ensure_future(pool.start())
        await asyncio.sleep(0.1)
        await pool.shutdown()
        await starting
        assert pool.pool is None and pools[0].closed
        assert _spawned(pools[0]) and not alive(set(_spawned(pools[0])))

    _run(asyncio.wait_for(main(), 120))
