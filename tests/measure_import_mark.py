"""What ``outbox import-ledger``'s mark of undelivered creeerZaak deliveries costs inside its write transaction.

Why: the import holds the store's write lock while it marks (gateway/deliver/imported.py), and a sidecar's commits
wait for it. An outbox of N delivered deliveries and 10 dead creeerZaak; the query by ``status <> 'delivered'``
(a full scan) against ``status IN ('dead', 'pending')`` (the ``delivery_pending`` index). Run:
``PYTHONPATH=. python tests/measure_import_mark.py 1000000``.

And what the forwarder's look at the mark costs each creeerZaak it is about to send (gateway/deliver/forwarder.py):
:func:`imported.held` by ``remembered``'s primary key, among N other remembered rows, alone and as the forwarder
asks it (through its reader thread from the event loop).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gateway.deliver import imported, outbox
from gateway.deliver.store import SqliteStore, ready
from gateway.zaken.plan import CREEER, SOAP_ACTIONS

SCAN = "SELECT id, zaak FROM delivery WHERE status <> 'delivered' AND zaak IS NOT NULL AND soap_action = ?"
INDEXED = "SELECT id, zaak FROM delivery WHERE status IN ('dead', 'pending') AND zaak IS NOT NULL AND soap_action = ?"


def main(n: int) -> None:
    conn = ready(SqliteStore(Path(tempfile.mkdtemp()) / outbox.DB_NAME)).connect()
    action = SOAP_ACTIONS[CREEER]
    with outbox.transaction(conn):
        message = outbox.accept(conn, outbox.NewMessage("r", "translate", b"<x/>"), []).message_id
        conn.executemany("INSERT INTO delivery (message_id, route, target, referentienummer, order_key, zaak, payload, "
                         "content_type, soap_action, status, created_at, next_at, updated_at) VALUES "
                         "(?, 'r', 'new', ?, ?, ?, x'00', 'text/xml', ?, ?, 0, 0, 0)",
                         ((message, f"ref{i}", f"Z{i}", f"Z{i}", action, "dead" if i % (n // 10) == 0 else "delivered")
                          for i in range(n)))
    for label, sql in (("status <> delivered", SCAN), ("status IN (dead, pending)", INDEXED)):
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            rows = conn.execute(sql, (action,)).fetchall()
            best = min(best, time.perf_counter() - started)
        print(f"{label}: {len(rows)} rows in {best * 1000:.2f} ms (best of 5) over {n} deliveries")
    with outbox.transaction(conn):
        started = time.perf_counter()
        marked = imported.mark(conn, set)
        print(f"imported.mark: {marked} marked in {(time.perf_counter() - started) * 1000:.2f} ms")
    held(conn, n)


def held(conn: object, n: int, calls: int = 10_000) -> None:
    """The forwarder's check before each creeerZaak: a hit and a miss among ``n`` remembered rows."""
    with outbox.transaction(conn):  # type: ignore[arg-type]
        conn.executemany("INSERT INTO remembered (kind, key, value) VALUES ('ggk-replaced', ?, 'x')",  # type: ignore
                         ((f"k{i}",) for i in range(n)))
    for label, delivery in (("hit", 0), ("miss", n + 1)):
        started = time.perf_counter()
        for _ in range(calls):
            imported.held(conn, delivery)
        print(f"imported.held ({label}): {(time.perf_counter() - started) / calls * 1e6:.1f} µs a call "
              f"among {n} remembered rows")
    reader = ThreadPoolExecutor(1)

    async def through_reader() -> float:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for _ in range(calls):
            await loop.run_in_executor(reader, imported.held, conn, n + 1)
        return (time.perf_counter() - started) / calls

    print(f"imported.held through the reader thread: {asyncio.run(through_reader()) * 1e6:.1f} µs a creeerZaak")
    reader.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
