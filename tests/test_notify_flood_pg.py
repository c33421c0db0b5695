"""A flood of NOTIFYs on ``overstap_outbox`` from another database client: the replica coalesces them into one
rescan under way and at most one after it, not one read of every pending row each (session 29's review).

Why: every notification on the channel asked for a rescan of its own (a task reading the generation, then every
pending row through the writer connection): any client of the database (a script in a loop, a hostile one) could
make a replica queue thousands of tasks and full reads behind its status writes. Real parts: a sidecar on a real
PostgreSQL database, the flood a real ``pg_notify`` from another connection; the replica's read of the pending rows
is held by the test's lock on ``delivery`` until every notification is heard, so none is read before the next
comes: a deterministic hand-shake, no sleep.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pg_helpers
import psycopg
import pytest
from pg_helpers import database_for
from proxy_helpers import Start, wait_for

from gateway.pgstore.notify import CHANNEL

server = pg_helpers.server
FLOOD = 5000


def test_a_flood_of_outbox_notifications_is_one_rescan_and_one_more(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    database = database_for(server, request, "nf")
    routes = {"default": {"downstream": "zs"}}
    _, gw = start(routes, {"zs": {"url": "http://127.0.0.1:9/", "timeout": 5.0}}, store=database, poll_interval=30.0)
    fw: Any = gw.forwarder
    with psycopg.connect(database, autocommit=True) as watch:
        assert wait_for(lambda: watch.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'")
                        .fetchone() == (1,))
        assert wait_for(lambda: not fw._rescans)  # the rescans the listener's start asked for, done
    loop = fw._workers[0].get_loop()
    heard, rescans = [0], [0]
    hear, rescan = fw._listener.heard, fw.rescan

    def counting_heard(channel: str) -> None:
        heard[0] += channel == CHANNEL
        hear(channel)

    async def counting_rescan() -> None:
        rescans[0] += 1
        await rescan()

    fw._listener.heard, fw.rescan = counting_heard, counting_rescan
    with psycopg.connect(database) as lock, psycopg.connect(database, autocommit=True) as flood:
        lock.execute("LOCK TABLE delivery IN ACCESS EXCLUSIVE MODE")  # the rescans' read waits for it
        flood.execute(f"SELECT count(pg_notify('{CHANNEL}', g::text || repeat('x', 200))) "
                      f"FROM generate_series(1, {FLOOD}) g")  # distinct payloads: PostgreSQL merges none
        assert wait_for(lambda: heard[0] >= FLOOD, timeout=60), heard
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(30)  # after every callback heard scheduled
        lock.rollback()
    assert wait_for(lambda: not fw._rescans, timeout=60)
    assert heard[0] - FLOOD in (0, 1) and 1 <= rescans[0] <= 3, (heard, rescans)  # one under way, one after
    # (heard once more, and a rescan more, when the listener connected just as the counting began)
