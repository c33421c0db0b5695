"""Server time of the console's list and search pages over a large outbox (issue 15: under 200 ms at 1,000,000).

    .venv/bin/python benchmarks/console_bench.py [-n 1000000] [--data DIR] [--rounds 7] [--store URL]

Fills ``DIR/outbox.sqlite3`` (a temporary folder, removed at the end, unless --data names one; an existing filled
one is reused) with N messages over 90 days, three routes, 1% quarantined, and a delivery each (97% delivered, 2%
dead, 1% pending), plus a zaak ledger with one zaak per three messages. Then drives the console app in process
(the real routes, templates and SQL, no network) and prints, per page, the median and worst server time
(the ``Server-Timing`` header the console sets) over the rounds. Starting the console builds its indexes:
that one-off cost is printed apart. With ``--store URL`` (an empty PostgreSQL database) the filled outbox is copied
there (``overstap store copy``) and the console reads the store, as on a sidecar with ``store:``. Not a test: numbers
vary by machine and load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

from gateway.console.app import Backend, create_console
from gateway.console.auth import COOKIE, Signer, account_fingerprint, new_session
from gateway.console.sessions import OWN_FILE
from gateway.console.settings import ConsoleSettings, User, hash_password
from gateway.deliver import outbox
from gateway.ledger.staged import create_tables

ROUTES = ("default", "jeugd", "ggk")
DAY = 86400.0
START = 1_735_689_600.0  # 2025-01-01 UTC
PAYLOAD = b"<soap:Envelope><soap:Body><ZKN:zakLk01>" + b"x" * 300 + b"</ZKN:zakLk01></soap:Body></soap:Envelope>"


def bsn(n: int) -> str:
    """A BSN that passes the elfproef (the console refuses others before it searches)."""
    base = f"{100_000_000 + n * 10:09d}"[:8]
    for last in range(10):
        candidate = base + str(last)
        total = sum(int(d) * w for d, w in zip(candidate[:8], range(9, 1, -1), strict=True)) - last
        if total % 11 == 0:
            return candidate
    return bsn(n + 1)


def fill(path: Path, n: int) -> float:
    """Write N messages, their deliveries and the ledger in chunks of one transaction each; seconds taken."""
    started = time.perf_counter()
    conn = outbox.connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # a benchmark fixture, not an acknowledgement
    create_tables(conn)
    rng = random.Random(15)
    clients = [bsn(i) for i in range(5000)]
    step = 90 * DAY / n
    chunk = 50_000
    for lo in range(1, n + 1, chunk):
        messages, deliveries, zaken = [], [], []
        for i in range(lo, min(n, lo + chunk - 1) + 1):
            route = ROUTES[i % 3]
            quarantined = rng.random() < 0.01
            at = START + i * step
            messages.append((i, at, at, route, "translate", "quarantined" if quarantined else "accepted",
                             f"{i:064x}", f"ref{i:09d}", "0384", "98025566", "iwmo20-wmo301", b"<Bericht/>" * 40,
                             "StUF055" if quarantined else None, "does not convert" if quarantined else None))
            if quarantined:
                continue
            zaak = f"0384B{i // 3:09d}"
            roll = rng.random()
            status = "delivered" if roll < 0.97 else "dead" if roll < 0.99 else "pending"
            deliveries.append((i, i, route, "new", f"r{i}", zaak, zaak, PAYLOAD, "text/xml",
                               "http://www.egem.nl/StUF/sector/zkn/0310/updateZaak_Lk01", status, 1, at, at, at,
                               at if status == "delivered" else None, 200 if status == "delivered" else 500,
                               "Bv03" if status == "delivered" else "Fo03" if status == "dead" else None,
                               "HTTP 500: Fo03 StUF055" if status == "dead" else None))
            if i % 3 == 0:
                state = {"identificatie": zaak, "zaaktype": {"code": "WMOTOEW", "omschrijving": "Toewijzing Wmo"},
                         "attrs": {"startdatum": "20250101"}, "initiator": {"bsn": clients[i % len(clients)]},
                         "statussen": []}
                zaken.append((zaak, json.dumps(state), "2025-01-01T00:00:00+00:00"))
        with outbox.transaction(conn):
            conn.executemany("INSERT INTO message (id, received_at, last_received_at, route, mode, status, body_sha256,"
                             " source_ref, afzender, ontvanger, mapping, original, fault_code, reason) VALUES"
                             " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", messages)
            conn.executemany("INSERT INTO delivery (id, message_id, route, target, referentienummer, order_key, zaak,"
                             " payload, content_type, soap_action, status, attempts, created_at, next_at, updated_at,"
                             " delivered_at, http_status, reply_code, reason) VALUES"
                             " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", deliveries)
            conn.executemany("INSERT OR REPLACE INTO zaak_state (zaak, state, updated_at) VALUES (?, ?, ?)", zaken)
        print(f"  {min(n, lo + chunk - 1):>9,} messages written", file=sys.stderr, end="\r")
    conn.close()
    print(file=sys.stderr)
    return time.perf_counter() - started


async def no_replay(ids: list[int]) -> list[Any]:
    return []


async def no_reconvert(ids: list[int], shown: set[int]) -> list[Any]:
    return []


def server_ms(response: Any) -> float:
    assert response.status_code == 200, (response.status_code, response.text[:500])
    return float(response.headers["server-timing"].split("dur=")[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1_000_000, help="messages in the outbox (default 1,000,000)")
    parser.add_argument("--data", type=Path, help="folder for outbox.sqlite3 (kept; reused when already filled)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--store", help="an empty PostgreSQL database (postgresql://…) to copy the outbox to and read")
    args = parser.parse_args()
    if args.data is not None:
        run(args.data, args.n, args.rounds, args.store)
        return
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:  # a million rows fill ~1 GB: not left behind
        run(Path(folder), args.n, args.rounds, args.store)


def run(folder: Path, n: int, rounds: int, store: str | None = None) -> None:
    """Fill the outbox in ``folder`` unless it holds ``n`` messages already (and copy it to ``store``), measure."""
    path = outbox.open_db(folder)
    with closing(outbox.connect(path)) as conn:
        have = conn.execute("SELECT count(*) FROM message").fetchone()[0]
    if have == 0:
        print(f"filling {path} with {n:,} messages", file=sys.stderr)
        print(f"fill: {fill(path, n):.1f} s")
    elif have != n:
        sys.exit(f"{path} already holds {have:,} messages, not {n:,}: use another --data folder")
    if store is not None:
        from gateway.deliver.copy_store import copy_outbox
        from gateway.deliver.store import PostgresStore, open_store

        started = time.perf_counter()
        target = open_store(folder, store)  # the schema at head, as a replica's start makes it
        assert isinstance(target, PostgresStore)
        copied = copy_outbox(path, target)
        print(f"copy to the store: {time.perf_counter() - started:.1f} s ({copied['message']:,} messages)")
    asyncio.run(measure(path, n, rounds, store))


async def measure(path: Path, n: int, rounds: int, store: str | None = None) -> None:
    settings = ConsoleSettings(enabled=True, secret="bench",
                               users={"bench": User("bench", "operator", hash_password("bench", iterations=1000))})
    started = time.perf_counter()
    own = path.parent / OWN_FILE if store else path  # on a store only a path in data_dir: sessions are the store's
    console = create_console(settings, Backend(own, no_replay, reconvert=no_reconvert, store=store))
    print(f"console start (builds its indexes once per outbox): {time.perf_counter() - started:.2f} s")
    app = Starlette(routes=[Mount("/console", console)])
    signer = Signer("bench")
    session = new_session("bench", "operator", 60)
    fingerprint = account_fingerprint(signer, settings, None, "bench", "operator") or ""
    console.state.console.sessions.add(session, fingerprint)  # as a login would: every cookie is checked there
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench/console",
                                 cookies={COOKIE: signer.dump(session)}) as client:
        server_ms(await client.get("/messages"))
        middle = n // 2
        with closing(outbox.connect(path)) as conn:  # a dead letter near the middle: its page plans Re-convert
            dead = int(conn.execute("SELECT min(message_id) FROM delivery WHERE status = 'dead' AND message_id > ?",
                                    (middle,)).fetchone()[0])
        pages: dict[str, Any] = {
            "list, newest page": lambda: client.get("/messages"),
            "list, a page deep in the middle": lambda: client.get("/messages", params={"before": middle}),
            "filter status=dead": lambda: client.get("/messages", params={"status": "dead"}),
            "filter status=pending, deep": lambda: client.get("/messages", params={"status": "pending",
                                                                                   "before": middle}),
            "filter status=quarantined": lambda: client.get("/messages", params={"status": "quarantined"}),
            "filter route=ggk": lambda: client.get("/messages", params={"route": "ggk"}),
            "filter route=ggk + status=dead": lambda: client.get("/messages", params={"route": "ggk",
                                                                                      "status": "dead"}),
            "filter one day (2025-02-01)": lambda: client.get("/messages", params={"from": "2025-02-01",
                                                                                   "to": "2025-02-01"}),
            "client search (POST, BSN)": lambda: client.post("/clients", data={
                "bsn": bsn(7), "csrf": signer.csrf(session.nonce)}),
            "message page": lambda: client.get(f"/messages/{middle + 1}"),
            "message page, a dead letter (re-convert planned)": lambda: client.get(f"/messages/{dead}"),
            "re-convert confirmation": lambda: client.get("/reconvert", params={"message": str(dead)}),
            "health (full counts)": lambda: client.get("/health"),
            "shadow page (no shadow messages)": lambda: client.get("/shadow"),
            "purge preview, older than 30 days": lambda: client.get("/purge", params={"days": "30"}),
        }
        print(f"{'page':40} {'median ms':>10} {'worst ms':>9}   ({n:,} messages, {rounds} rounds)")
        for name, call in pages.items():
            times = [server_ms(await call()) for _ in range(rounds)]
            print(f"{name:40} {statistics.median(times):10.1f} {max(times):9.1f}")

if __name__ == "__main__":
    main()
