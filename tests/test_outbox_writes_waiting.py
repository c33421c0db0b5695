"""``overstap_outbox_writes_waiting``: the outbox writes not yet answered, queued or held on the store's write lock.

Why: every inbound message is stored before it is answered, one group commit at a time; when the store cannot keep
up (or another writer holds its lock: an import, a purge, another replica on PostgreSQL) the writes pile up in
the committer and nothing showed it but the acknowledgement times. The gauge shows it, and a test can wait on it
where it slept (tests/test_import_beside_sidecar.py). Real stores: a SQLite outbox file and a PostgreSQL database,
their write lock held by a second connection as an import holds it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import Any

import pg_helpers
import pytest
from pg_helpers import database_for
from prometheus_client.parser import text_string_to_metric_families
from proxy_helpers import wait_for

from gateway.deliver.committer import GroupCommitter
from gateway.deliver.store import Store, locate, ready
from gateway.proxy.metrics import Metrics

server = pg_helpers.server
GAUGE = "overstap_outbox_writes_waiting"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """A real outbox at schema head: the SQLite file in a data folder, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ready(locate(tmp_path / "data"))
    return ready(locate(tmp_path, database_for(request.getfixturevalue("server"), request, "pg_waiting")))


def _gauge(metrics: Metrics) -> float:
    """The gauge as a scraper reads it: parsed from the Prometheus text the sidecar serves on /metrics."""
    text = metrics.render().decode()
    (value,) = [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == GAUGE]
    return float(value)


def _nothing(conn: Any) -> int:
    return int(conn.execute("SELECT 1").fetchone()[0])


def test_a_write_held_on_the_stores_lock_counts_until_its_commit(store: Store) -> None:
    """Held on the lock: 1 (in the writer's hand, off the queue), 2 with another queued behind it; 0 once the last is
    answered, the moment its caller has the result (the count drops before the answers go out)."""
    metrics = Metrics()
    committer = GroupCommitter(store.connect, on_commit=metrics.on_commit)
    metrics.watch_writes(committer.waiting)
    committer.start()
    holder = store.connect()
    try:
        assert _gauge(metrics) == 0
        holder.execute("BEGIN IMMEDIATE")  # the store's write lock (an advisory lock on PostgreSQL)
        first = committer.submit(_nothing)
        assert wait_for(lambda: committer._queue.qsize() == 0, timeout=60), "the writer never took the write"
        assert _gauge(metrics) == 1  # taken off the queue, waiting for the lock: still counted
        second = committer.submit(_nothing)
        assert _gauge(metrics) == 2 and not first.done() and not second.done()
        holder.execute("COMMIT")
        assert first.result(timeout=60) == 1 and second.result(timeout=60) == 1
        assert _gauge(metrics) == 0
    finally:
        committer.stop()
        holder.close()


class _PausingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
    """The committer's queue, whose blocking ``get`` stops once armed right after it took an item: the writer held in
    the instant between taking a write off the queue and holding it in its batch (a scrape there read 0 before)."""

    def __init__(self) -> None:
        self.armed = True
        self.taken = threading.Event()
        self.release = threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        if self.armed:
            self.armed = False
            self.taken.set()
            assert self.release.wait(60), "the test never let the writer go on"
        return item


def test_a_write_taken_off_the_queue_is_counted_in_the_hand_over(tmp_path: Path) -> None:
    """The writer stopped between ``get`` and its batch: the write is off the queue and in no batch yet, still 1;
    2 with one queued by each other entry point behind it (a thread's submit, the event loop's write, a write nobody
    waits for: 4); 0 once all are answered, the moment the last caller has its result."""
    store = ready(locate(tmp_path / "data"))
    committer = GroupCommitter(store.connect)
    pausing = _PausingQueue()
    committer._queue = pausing
    committer.start()
    try:
        first = committer.submit(_nothing)
        assert pausing.taken.wait(60), "the writer never took the write"
        assert committer._queue.qsize() == 0 and committer.waiting() == 1
        second = committer.submit(_nothing)
        assert committer.waiting() == 2
        stored = threading.Event()
        committer.write_later(_nothing, after=lambda _value: stored.set())
        assert committer.waiting() == 3

        async def on_the_loop() -> tuple[int, int]:
            written = committer.enqueue(_nothing)
            during = committer.waiting()
            pausing.release.set()
            return during, await written

        assert asyncio.run(on_the_loop()) == (4, 1)
        assert first.result(timeout=60) == 1 and second.result(timeout=60) == 1 and stored.wait(60)
        assert committer.waiting() == 0
    finally:
        pausing.release.set()
        committer.stop()
