"""What an operator lists of the outbox (``overstap outbox``'s listings and the dead letters it selects to replay,
the shadow route's report): counts, and rows without payloads, newest first, filtered by column.

Apart from gateway/deliver/outbox.py, which writes and reads what delivery needs: these reads only look. The same
on SQLite and PostgreSQL (``?`` parameters; gateway/pgstore/conn.py adapts them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any


def counts(conn: sqlite3.Connection) -> dict[tuple[str, str, str], int]:
    """(route, target, status) -> number of deliveries."""
    rows = conn.execute("SELECT route, target, status, count(*) FROM delivery GROUP BY route, target, status")
    return {(r[0], r[1], r[2]): r[3] for r in rows}


def quarantine_counts(conn: sqlite3.Connection) -> dict[str, int]:
    rows = conn.execute("SELECT route, count(*) FROM message WHERE status = 'quarantined' GROUP BY route")
    return {r[0]: r[1] for r in rows}


def delivery_rows(conn: sqlite3.Connection, *, status: str | None = None, route: str | None = None,
                  target: str | None = None, ids: Iterable[int] = (), limit: int | None = 100) -> list[sqlite3.Row]:
    """Deliveries for listing and replay, newest first (without payloads)."""
    where, args = _filters(status=status, route=route, target=target, ids=ids)
    sql = ("SELECT id, message_id, route, target, referentienummer, order_key, zaak, status, attempts, replays,"
           " created_at, updated_at, delivered_at, http_status, reply_code, reason FROM delivery"
           f"{where} ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    return conn.execute(sql, args).fetchall()


def message_rows(conn: sqlite3.Connection, *, status: str | None = None, route: str | None = None,
                 mode: str | None = None, ids: Iterable[int] = (), limit: int | None = 100,
                 unmapped: bool = False) -> list[sqlite3.Row]:
    """Messages (accepted or quarantined) without their bodies, newest first; ``unmapped``: only those with
    source values no rule used."""
    where, args = _filters(status=status, route=route, mode=mode, ids=ids)
    if unmapped:
        where += (" AND" if where else " WHERE") + " unmapped IS NOT NULL"
    sql = ("SELECT id, received_at, last_received_at, times_received, route, mode, status, source_ref, afzender,"
           " ontvanger, mapping, fault_code, fault_field, fault_line, reason, unmapped FROM message"
           f"{where} ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else ""))
    return conn.execute(sql, args).fetchall()


def _filters(ids: Iterable[int] = (), **equal: Any) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for column, value in equal.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    id_list = [int(i) for i in ids]
    if id_list:
        clauses.append(f"id IN ({','.join('?' * len(id_list))})")
        args += id_list
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args
