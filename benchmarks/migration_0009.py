"""How long schema revision 0009 (``delivery.renewal_owed`` + its partial index) holds the store's writers at 1,000,000
delivery rows: what an operator needs to know before upgrading a large outbox (docs/postgresql.md, *Schema
migrations*).

    .venv/bin/python benchmarks/migration_0009.py [-n 1000000] [--payload 3000] [--data DIR | --store URL] [--cold]

Brings a new store to 0008 (``overstap store migrate --to 0008``), fills it in SQL (a recursive CTE on SQLite,
generate_series on PostgreSQL: one message per ten deliveries, payloads of ``--payload`` bytes), then runs
``overstap store migrate`` to head as an operator would, while a writer does what the sidecar's committer does
(``BEGIN IMMEDIATE``, one delivery row updated, COMMIT) every 20 ms. Prints the migration's wall time and the
writer's longest wait. ``--store``: an empty PostgreSQL database; else a SQLite outbox in DIR (a temporary folder
unless named). Not a test: numbers vary by machine and load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gateway.deliver.store import SqliteStore, Store, locate

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from gateway.cli import main; main()"]
_COLUMNS = ("message_id, route, target, referentienummer, order_key, zaak, payload, content_type, status, attempts, "
            "created_at, next_at, updated_at")


def _cli(*args: str) -> float:
    """Run ``overstap ARGS`` in its own process; its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([*CLI, *args], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - started


def _fill_sqlite(conn: Any, rows: int, payload: int) -> None:
    messages = max(1, rows // 10)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO message(id, received_at, last_received_at, route, mode, status, body_sha256, original) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT i, 1.7e9, 1.7e9, 'default', 'translate', 'stored', printf('%064d', i), randomblob(?) FROM n",
        (messages, payload))
    conn.execute(
        f"INSERT INTO delivery({_COLUMNS}) "
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "SELECT (i - 1) / 10 + 1, 'default', 'new', 'R' || i, 'k' || (i % 5000), 'Z' || (i % 100000), randomblob(?), "
        "'text/xml', CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 50 = 0 THEN 'dead' ELSE 'delivered' END, 1, "
        "1.7e9, 1.7e9, 1.7e9 FROM n", (rows, payload))
    conn.execute("COMMIT")


def _fill_postgresql(conn: Any, rows: int, payload: int) -> None:
    """As on SQLite, but each payload is a filler that compresses and then 1008 random bytes, so it stays in the row
    compressed to ~1 KB (a 3 KB XML envelope compresses about so), where random bytes would go out to TOAST and leave
    the table the index build reads far smaller than a real one (pglz gives up on a value whose first KB does not
    compress: the filler comes first)."""
    messages = max(1, rows // 10)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO message(id, received_at, last_received_at, route, mode, status, body_sha256, original) "
        "SELECT i, 1.7e9, 1.7e9, 'default', 'translate', 'stored', lpad(i::text, 64, '0'), "
        "decode(repeat(md5(i::text), 64), 'hex') FROM generate_series(1, ?) i", (messages,))
    conn.execute(
        f"INSERT INTO delivery({_COLUMNS}) "
        "SELECT (i - 1) / 10 + 1, 'default', 'new', 'R' || i, 'k' || (i % 5000), 'Z' || (i % 100000), "
        "decode(repeat(md5(i::text), greatest(? - 1008, 0) / 16) || p.r, 'hex'), 'text/xml', "
        "CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 50 = 0 THEN 'dead' ELSE 'delivered' END, 1, 1.7e9, 1.7e9, 1.7e9 "
        "FROM generate_series(1, ?) i, LATERAL (SELECT string_agg(md5(i::text || '.' || j::text), '') AS r "
        "FROM generate_series(1, 63) j) p", (payload, rows))
    conn.execute("SELECT setval(pg_get_serial_sequence('message', 'id'), ?)", (messages,))
    conn.execute("SELECT setval(pg_get_serial_sequence('delivery', 'id'), ?)", (rows,))
    conn.execute("COMMIT")


def _size(store: Store, conn: Any) -> str:
    """What the index build reads: the SQLite file, or the delivery table's heap (its TOAST apart) on PostgreSQL."""
    if isinstance(store, SqliteStore):
        return f"outbox file {store.path.stat().st_size / 2**20:,.0f} MiB"
    heap, total = conn.execute("SELECT pg_relation_size('delivery'), pg_total_relation_size('delivery')").fetchone()
    return f"delivery heap {heap / 2**20:,.0f} MiB ({total / 2**20:,.0f} MiB with TOAST and indexes)"


def _evict(store: Store, conn: Any) -> None:
    """Write the filled store out and drop its files from the page cache (``POSIX_FADV_DONTNEED``, these files
    only): the index build then reads from disk, as the first upgrade after a restart would."""
    if isinstance(store, SqliteStore):
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        files = [store.path]
    else:
        conn.execute("CHECKPOINT")  # a superuser's; shared_buffers (128 MB by default) keep what they hold
        (relative,) = conn.execute("SELECT pg_relation_filepath('delivery')").fetchone()
        (folder,) = conn.execute("SHOW data_directory").fetchone()
        heap = Path(folder) / relative  # its 1 GB segments are heap.1, heap.2, ...
        files = [heap, *sorted(heap.parent.glob(heap.name + ".*"))]
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    print(f"dropped {len(files)} file(s) from the page cache", flush=True)


class Writer(threading.Thread):
    """The sidecar's write, every 20 ms while the migration runs: the longest one is how long writers were held."""

    def __init__(self, store: Store) -> None:
        super().__init__(daemon=True)
        self.store, self.done, self.waits = store, threading.Event(), [0.0]

    def run(self) -> None:
        conn = self.store.connect()
        n = 0
        while not self.done.is_set():
            n += 1
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE delivery SET updated_at = ? WHERE id = ?", (time.time(), n % 1000 + 1))
            conn.execute("COMMIT")
            self.waits.append(time.perf_counter() - started)
            self.done.wait(0.02)
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1_000_000, help="delivery rows (default 1,000,000)")
    ap.add_argument("--payload", type=int, default=3000, help="bytes of each payload (default 3000)")
    ap.add_argument("--data", type=Path, help="folder of the SQLite outbox (default: a temporary one)")
    ap.add_argument("--store", help="an empty PostgreSQL database's URL")
    ap.add_argument("--cold", action="store_true", help="drop the filled table's files from the OS page cache first "
                    "(this store's files only; PostgreSQL: a server on this host whose files this user may read)")
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="overstap-0009-"))
    where = ["--store", args.store] if args.store else ["--data-dir", str(data)]
    store = locate(data, args.store)
    _cli("store", "migrate", *where, "--to", "0008")
    conn = store.connect()
    started = time.perf_counter()
    (_fill_postgresql if args.store else _fill_sqlite)(conn, args.n, args.payload)
    if args.store:
        conn.execute("ANALYZE delivery")
    print(f"filled {args.n:,} deliveries in {time.perf_counter() - started:.1f} s; {_size(store, conn)}", flush=True)
    if args.cold:
        _evict(store, conn)
    conn.close()
    writer = Writer(store)
    writer.start()
    time.sleep(0.5)
    took = _cli("store", "migrate", *where)
    writer.done.set()
    writer.join()
    print(f"overstap store migrate 0008 -> 0009: {took:.2f} s wall (process start and Alembic included); "
          f"a writer beside it waited at most {max(writer.waits):.2f} s ({len(writer.waits) - 1} writes)")
    if args.data is None and not args.store:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
