"""How long a page of the console's audit search takes on PostgreSQL, with only ``console_audit_at`` and with the
indexes of schema revision 0012.

    .venv/bin/python benchmarks/audit_search_bench.py [--rows 1000000]
    .venv/bin/python benchmarks/audit_search_bench.py --file [--rows 200000]
    .venv/bin/python benchmarks/audit_search_bench.py --range [--rows 1000000]

With ``--file``: a SQLite sidecar's ``console-audit.jsonl`` of ``--rows`` entries instead, read as the page reads it
(at most 8 MiB a visit): each filter's first page, then a search for one id followed through every "go on", and
Older through the whole file. With ``--range``: a file of ``--rows`` entries 100 s apart (1,000,000: ~100 MB, from
2023-01-01 to 2026-03-03), and a day near its start (2023-01-05) searched as the page searches it: the first visit,
and the visits ("go on") until the page holds entries (before session 32's bisection: many).

Starts a PostgreSQL server of its own (tests/pg_helpers.py), fills ``console_audit`` with ``--rows`` entries (20
users, the console's actions, ids in the details, one in ten from an imported source), then times the first and the
second page of each filter (best of three), without 0012's indexes and with them, and how long each index took to
build. Not a test: numbers vary by machine and load (docs/console.md quotes a run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from gateway.console.auditlog import AuditLog, PgAuditLog  # noqa: E402
from gateway.console.auditquery import AuditFilter  # noqa: E402

FILL = """INSERT INTO console_audit (at, account, action, details, source)
SELECT to_char(timestamp '2025-01-01' + (g * interval '30 second'), 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00',
 'user' || (g % 20), (ARRAY['login', 'view_payload', 'view_payload', 'view_payload', 'view_zaak', 'client_search',
 'replay', 'logout'])[1 + g % 8],
 CASE WHEN g % 8 IN (1, 2, 3) THEN jsonb_build_object('message_id', (g * 7919) % 200000)
      WHEN g % 8 = 4 THEN jsonb_build_object('zaak_key', (g * 104729) % 50000)
      WHEN g % 8 = 6 THEN jsonb_build_object('delivery_id', g % 300000, 'message_id', (g * 7919) % 200000)
      ELSE '{}'::jsonb END,
 CASE WHEN g % 10 = 0 THEN 'file:abc' ELSE NULL END
FROM generate_series(1::bigint, {rows}) g"""
CASES = {"newest": AuditFilter(), "user (1 of 20)": AuditFilter(user="user7"),
         "a user who did nothing": AuditFilter(user="user-rare"), "action purge (none)": AuditFilter(action="purge"),
         "action view_payload": AuditFilter(action="view_payload"),
         "a message's id": AuditFilter(id=12345, kind="message"), "any id": AuditFilter(id=12345),
         "a zaak's id": AuditFilter(id=4242, kind="zaak"),
         "one old day": AuditFilter(day_from="2025-01-03", day_to="2025-01-03"),
         "source (1 in 10)": AuditFilter(source="file:abc"), "unknown source": AuditFilter(source="file:zzz"),
         "user and two days": AuditFilter(user="user3", day_from="2025-03-01", day_to="2025-03-02")}


def best(log: PgAuditLog, f: AuditFilter) -> tuple[float, int, int | None]:
    times, found = [], None
    for _ in range(3):
        started = time.perf_counter()
        found = log.page(f, 200)
        times.append(time.perf_counter() - started)
    assert found is not None
    return min(times), len(found.entries), found.older


def run(url: str, label: str) -> None:
    from gateway.console.source import PgSource

    source = PgSource(url)
    try:
        log = PgAuditLog(source)
        print(f"--- {label}")
        for name, f in CASES.items():
            took, count, older = best(log, f)
            second = f"{best(log, replace(f, before=older))[0] * 1000:7.1f} ms" if older is not None else "-"
            print(f"{name:24s} {took * 1000:7.1f} ms ({count} entries); its second page {second}")
    finally:
        source.close()


def walk(log: AuditLog, f: AuditFilter) -> tuple[int, int, float]:
    """Every page from the newest, following Older (and "go on"): visits, entries found, seconds."""
    visits, count, started = 0, 0, time.perf_counter()
    while True:
        found = log.page(f, 200)
        visits, count = visits + 1, count + len(found.entries)
        if found.older is None:
            return visits, count, time.perf_counter() - started
        f = replace(f, before=found.older)


def file_bench(rows: int) -> None:
    path = Path(tempfile.mkdtemp()) / "console-audit.jsonl"
    path.write_text("".join(json.dumps({"action": "view_payload", "message_id": i, "time": "2026-12-07T06:00:00+00:00",
                                        "user": f"user{i % 20}"}, sort_keys=True) + "\n" for i in range(rows))
                    + "".join(json.dumps({"action": "login", "time": "2026-12-07T07:00:00+00:00", "user": "last200"},
                                         sort_keys=True) + "\n" for _ in range(200)))  # a full page and no more
    log = AuditLog(path)
    print(f"{rows} entries, {path.stat().st_size / 1e6:.1f} MB")
    for name, f in (("newest", AuditFilter()), ("user (1 of 20)", AuditFilter(user="user7")),
                    ("a user who did nothing", AuditFilter(user="nobody")),
                    ("a message's id", AuditFilter(id=rows // 2, kind="message")),
                    ("exactly 200, at the end", AuditFilter(user="last200"))):
        took = min(timed(log, f) for _ in range(3))
        found = log.page(f, 200)
        print(f"{name:24s} {took * 1000:7.1f} ms, {found.bytes_read / 1e6:.2f} MB read, {len(found.entries)} entries"
              f"{', stopped by the budget' if found.cut else ''}{', Older offered' if found.older is not None else ''}")
    visits, count, took = walk(log, AuditFilter(id=rows // 2, kind="message"))
    print(f"one id through the whole file: {visits} visits, {took:.2f} s, {count} found")
    visits, count, took = walk(log, AuditFilter())
    print(f"Older through every entry: {visits} pages, {count} entries, {took:.2f} s")


def range_bench(rows: int) -> None:
    import datetime as dt

    path = Path(tempfile.mkdtemp()) / "console-audit.jsonl"
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    shape = '{"action": "view_payload", "message_id": %d, "time": "%s", "user": "user%d"}\n'  # the console's lines
    with path.open("w", encoding="utf-8") as out:
        for first in range(0, rows, 50_000):
            out.write("".join(shape % (i, (start + dt.timedelta(seconds=100 * i)).isoformat(timespec="seconds"), i % 20)
                              for i in range(first, min(rows, first + 50_000))))
    log = AuditLog(path)
    print(f"{rows} entries, {path.stat().st_size / 1e6:.1f} MB, 2023-01-05 (its 3,456th to 4,319th entries)")
    f = AuditFilter(day_from="2023-01-05", day_to="2023-01-05")
    took = min(timed(log, f) for _ in range(3))
    found = log.page(f, 200)
    print(f"first visit: {took * 1000:.1f} ms, {found.bytes_read / 1e6:.2f} MB read, {len(found.entries)} entries")
    visits, started = 1, time.perf_counter()
    while not found.entries and found.older is not None:  # "go on reading older entries", as an auditor clicks
        found, visits = log.page(replace(f, before=found.older), 200), visits + 1
    print(f"until the page holds entries: {visits} visit(s), {(time.perf_counter() - started + took) * 1000:.0f} ms "
          f"in all, {len(found.entries)} entries on it")


def timed(log: AuditLog, f: AuditFilter) -> float:
    started = time.perf_counter()
    log.page(f, 200)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--file", action="store_true", help="the SQLite sidecar's audit file, not PostgreSQL")
    parser.add_argument("--range", action="store_true", help="a day range near the start of a big audit file")
    args = parser.parse_args()
    if args.range:
        range_bench(args.rows or 1_000_000)
        return
    if args.file:
        file_bench(args.rows or 200_000)
        return
    rows = args.rows or 1_000_000
    import pg_helpers

    from gateway.deliver.store import open_store
    from gateway.pgstore.conn import PgConnection
    revision = importlib.import_module("gateway.schema.versions.0012_console_audit_search")
    with pg_helpers.postgres_server() as url:
        open_store(Path(tempfile.mkdtemp()), url)  # at head: drop 0012's indexes to time the page without them
        with closing(PgConnection(url)) as pg:
            for sql in revision.INDEXES:
                pg.execute("DROP INDEX IF EXISTS " + sql.split(" ON ")[0].split()[-1])
            pg.execute("CREATE INDEX IF NOT EXISTS console_audit_at ON console_audit (at, id)")
            started = time.perf_counter()
            pg.execute(FILL.replace("{rows}", str(rows)))
            pg.execute("ANALYZE console_audit")
            print(f"filled {rows} entries in {time.perf_counter() - started:.1f} s")
        run(url, "only console_audit_at")
        with closing(PgConnection(url)) as pg:
            for sql in revision.INDEXES:
                started = time.perf_counter()
                pg.execute(sql)
                print(f"{sql.split(' ON ')[0]}: {time.perf_counter() - started:.1f} s")
            pg.execute("ANALYZE console_audit")
        run(url, "with revision 0012's indexes")


if __name__ == "__main__":
    main()
