"""How long the console's PostgreSQL indexes take to build, and how long a replica's write waits meanwhile.

    .venv/bin/python benchmarks/console_index_bench.py --store URL [--rounds 3]

``URL``: a store the console has read already (``benchmarks/console_bench.py --store URL --data DIR`` fills one).
Each round drops the console's indexes and builds them twice, once as before session 28 (plain ``CREATE INDEX`` in
one transaction under the store's write lock) and once as now (:func:`gateway.console.queries.ensure_pg_indexes`:
concurrently), while a writer commits a one-row update under the store's write lock every 5 ms, as a replica's
acknowledgements would. Prints each build's time, the writer's transactions during it and the longest one. The
indexes are there again at the end. Not a test: numbers vary by machine and load.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

from gateway.console import queries
from gateway.pgstore.conn import PgConnection

ALL = (*queries.INDEXES, *queries.PG_INDEXES, *queries.PG_LEDGER_INDEXES)


def drop(url: str) -> None:
    with closing(PgConnection(url)) as pg:
        for sql in ALL:
            pg.execute(f"DROP INDEX IF EXISTS {queries.index_name(sql)}")


def writer(url: str, stop: threading.Event, took: list[float]) -> None:
    """A replica's writes: one short transaction under the store's write lock every 5 ms."""
    with closing(PgConnection(url, application_name="bench-writer")) as pg:
        first = int(pg.execute("SELECT min(id) FROM message").fetchone()[0])
        i = 0
        while not stop.is_set():
            started = time.perf_counter()
            pg.execute("BEGIN IMMEDIATE")
            pg.execute("UPDATE message SET times_received = times_received WHERE id = ?", (first + i % 1000,))
            pg.execute("COMMIT")
            took.append(time.perf_counter() - started)
            i += 1
            time.sleep(0.005)


def plain(conn: Any) -> None:
    """The build before session 28: one transaction under the store's write lock."""
    conn.execute("BEGIN IMMEDIATE")
    for sql in ALL:
        conn.execute(sql)
    conn.execute("COMMIT")


def measure(url: str, build: Callable[[Any], Any], label: str) -> None:
    drop(url)
    stop, took = threading.Event(), []
    thread = threading.Thread(target=writer, args=(url, stop, took))
    thread.start()
    while len(took) < 20:  # the writer under way before the build starts
        time.sleep(0.01)
    before = len(took)
    with closing(PgConnection(url, application_name="bench-build")) as conn:
        started = time.perf_counter()
        build(conn)
        seconds = time.perf_counter() - started
    stop.set()
    thread.join()  # a write held by the build ends after it: counted too
    during = took[before:]
    longest = max(during) * 1000
    print(f"{label:<44} build {seconds:6.2f} s  writes during it {len(during):5d}, longest {longest:6.0f} ms",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="a filled PostgreSQL store (postgresql://…)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with closing(PgConnection(args.store)) as pg:
        print(f"{int(pg.execute('SELECT count(*) FROM message').fetchone()[0]):,} messages")
    for _ in range(args.rounds):
        measure(args.store, plain, "plain, one transaction (before session 28)")
        measure(args.store, queries.ensure_pg_indexes, "concurrently (now)")


if __name__ == "__main__":
    main()
