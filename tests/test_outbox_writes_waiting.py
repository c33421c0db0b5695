"""``overstap_outbox_writes_waiting``: the outbox writes not yet answered, queued or held on the store's write lock.

Why: every inbound message is stored before it is answered, one group commit at a time; when the store cannot keep
up (or another writer holds its lock: an import, a purge, another replica on PostgreSQL) the writes pile up in
the committer and nothing showed it but the acknowledgement times. The gauge shows it, and a test can wait on it
where it slept (tests/test_import_beside_sidecar.py). Real stores: a SQLite outbox file and a PostgreSQL database,
their write lock held by a second connection as an import holds it.
"""

from __future__ import annotations

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
