"""Which replica delivers which zaak: session-level advisory locks on a shared PostgreSQL store.

Messages of one order key (route, target, client/zaak) must reach the downstream one after the other, so
exactly one replica may hold a key's deliveries at a time. A replica *claims* a key with
``pg_try_advisory_lock`` on its reader connection before it sends the key's oldest delivery, keeps the claim
while the key has deliveries (also through a retry's backoff) and releases it once the settled status is
committed. A replica that dies loses its connection and with it every claim: the others pick the keys up
at their next rescan (failover). Delivery stays at-least-once: what the dead replica sent but had not marked
is sent again, under the same referentienummer, for the downstream to recognise.
"""

from __future__ import annotations

import hashlib
from typing import Any

CLAIM_CLASS = 0x4F56
"""The first key of the two-key advisory lock form: claims never collide with the store's write lock."""


ROUTE_CLASS = 0x4F57
"""The first key of the shared advisory locks that say which (route, target) a live replica configures."""


def route_id(route: str, target: str) -> int:
    """A stable 31-bit number for a configured (route, target) (a collision only makes a replica wait as before)."""
    digest = hashlib.blake2b(f"{route}\0{target}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF


def hold_routes(conn: Any, ids: list[int]) -> None:
    """Say, for as long as ``conn`` lives, that this replica configures these routes: a shared lock each, which any
    number of replicas hold at once and which a replica's lost connection gives back (no table, no heartbeat)."""
    if ids:
        conn.execute("SELECT pg_advisory_lock_shared(?, k) FROM unnest(?::int[]) AS k", (ROUTE_CLASS, ids)).fetchall()


def configured_anywhere(conn: Any, route: str, target: str) -> bool:
    """Whether a live replica holds (route, target)'s shared lock: the exclusive one cannot be had then (taken for
    the statement only, on an autocommit connection, so it is given back at once)."""
    row = conn.execute("SELECT pg_try_advisory_xact_lock(?, ?)", (ROUTE_CLASS, route_id(route, target))).fetchone()
    return not row[0]


def lock_id(route: str, target: str, order_key: str) -> int:
    """A stable 32-bit number for an order key (a collision only makes two keys share one replica)."""
    digest = hashlib.blake2b(f"{route}\0{target}\0{order_key}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def try_claim(conn: Any, ids: list[int]) -> set[int]:
    """The subset of ``ids`` this connection holds now (newly taken, or already its own)."""
    if not ids:
        return set()
    rows = conn.execute("SELECT k FROM unnest(?::int[]) AS k WHERE pg_try_advisory_lock(?, k)",
                        (ids, CLAIM_CLASS)).fetchall()
    return {int(r[0]) for r in rows}


def pending_of(conn: Any, route: str, target: str, order_key: str) -> list[Any]:
    """The pending deliveries of one order key, oldest first, as the store holds them now."""
    from .outbox import Queued

    rows = conn.execute("SELECT id, route, target, order_key, referentienummer, attempts, next_at FROM delivery"
                        " WHERE status = 'pending' AND route = ? AND target = ? AND order_key = ? ORDER BY id",
                        (route, target, order_key)).fetchall()
    return [Queued(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def release(conn: Any, ids: list[int]) -> None:
    """Give claims back (each was taken once: a session lock taken twice would need two releases)."""
    if ids:
        conn.execute("SELECT pg_advisory_unlock(?, k) FROM unnest(?::int[]) AS k", (CLAIM_CLASS, ids)).fetchall()
