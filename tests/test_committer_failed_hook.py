"""The group committer tells a write nobody waits for that it was not stored (``write_later(failed=...)``).

Why: since session 27 a delivery's settled status that was not stored has the delivery taken up again
(gateway/deliver/settled_writes.py ``_not_stored``). It learnt that from a thread-safe future and a done-callback
per write; session 28 measured that as most of the server process's extra Python calls per message and replaced it
with this hook, which must say exactly what the future said: the error of a write that raised and of every write
of a batch whose COMMIT failed, nothing for a write that was committed. A real SQLite file; the writer held by an
event so the writes under test share one batch.
"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from gateway.deliver.committer import GroupCommitter

SCHEMA = """
CREATE TABLE t (v INTEGER);
CREATE TABLE t_parent (id INTEGER PRIMARY KEY);
CREATE TABLE t_child (parent INTEGER REFERENCES t_parent (id) DEFERRABLE INITIALLY DEFERRED);
"""


class Refused(Exception):
    pass


def opened(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@pytest.fixture
def committer(tmp_path: Path) -> Any:
    db = tmp_path / "t.sqlite3"
    with opened(db) as conn:
        conn.executescript(SCHEMA)
    gc = GroupCommitter(lambda: opened(db))
    gc.start()
    yield gc, db
    gc.stop()


def one_batch(gc: GroupCommitter, queue_writes: Any) -> None:
    """Hold the writer in a job of its own, queue the writes, let it go: they form the next batch together."""
    entered, release = threading.Event(), threading.Event()

    def hold(_conn: sqlite3.Connection) -> None:
        entered.set()
        assert release.wait(30)

    held = gc.submit(hold)
    assert entered.wait(30)
    queue_writes()
    barrier: Future[Any] = gc.submit(lambda _c: None)  # answered after every hook of the writes before it ran
    release.set()
    held.result(30)
    barrier.exception(30)


def test_a_write_that_raises_is_told_and_its_committed_neighbour_is_not(committer: Any) -> None:
    gc, db = committer
    told: list[tuple[str, Any]] = []

    def refused(_conn: sqlite3.Connection) -> None:
        raise Refused("no")

    def queue() -> None:
        gc.write_later(refused, after=lambda v: told.append(("after refused", v)),
                       failed=lambda e: told.append(("failed refused", type(e).__name__)))
        gc.write_later(lambda c: c.execute("INSERT INTO t VALUES (1)").rowcount,
                       after=lambda v: told.append(("after stored", v)),
                       failed=lambda e: told.append(("failed stored", type(e).__name__)))
    one_batch(gc, queue)
    assert told == [("after stored", 1), ("failed refused", "Refused")]
    with opened(db) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(1,)]


def test_every_write_of_a_batch_whose_commit_failed_is_told(committer: Any) -> None:
    gc, db = committer
    told: list[tuple[str, str]] = []

    def queue() -> None:
        for n in range(3):
            write = ("INSERT INTO t_child VALUES (42)" if n == 1  # a deferred key: the COMMIT fails, not the write
                     else f"INSERT INTO t VALUES ({n})")
            gc.write_later(lambda c, w=write: c.execute(w), after=lambda _v, n=n: told.append((f"after {n}", "")),
                           failed=lambda e, n=n: told.append((f"failed {n}", type(e).__name__)))
    one_batch(gc, queue)
    assert told == [("failed 0", "IntegrityError"), ("failed 1", "IntegrityError"), ("failed 2", "IntegrityError")]
    with opened(db) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_hook_that_fails_keeps_no_other_answer_from_its_caller(committer: Any) -> None:
    gc, _db = committer
    told: list[str] = []

    def broken(_e: BaseException) -> None:
        raise RuntimeError("a broken hook")

    def refused(_conn: sqlite3.Connection) -> None:
        raise Refused("no")

    def queue() -> None:
        gc.write_later(refused, failed=broken)
        gc.write_later(refused, failed=lambda e: told.append(type(e).__name__))
    one_batch(gc, queue)
    assert told == ["Refused"]


def test_a_write_that_wants_to_hear_of_failure_is_refused_by_a_stopped_writer(tmp_path: Path) -> None:
    gc = GroupCommitter(lambda: opened(tmp_path / "t.sqlite3"))
    with pytest.raises(RuntimeError, match="not running"):
        gc.write_later(lambda c: None, failed=lambda e: None)
