"""``ack: delivered`` re-send on a shared PostgreSQL store whose pending delivery's route this replica has no
downstream for (session 29).

Why: on SQLite such a re-send is answered at once (Fo03 StUF058 naming the route, session 28). On a shared store
another replica's configuration may deliver it, and a replica could not know another's configuration: the sender
waited ``ack_timeout`` for a 504 saying "delivery continues", true only if some replica configures the route. Now
each replica holds a shared advisory lock per (route, target) it configures on its listening connection
(gateway/deliver/claims.py): a route no live replica holds is answered at once as on SQLite; one a live replica
holds waits, and its 504 names the route. Real parts: in-thread sidecars on a fresh PostgreSQL database, a real
downstream on 127.0.0.1 (holding the second replica's send until the test lets it go); the route is renamed by hand
in the store, as tests/test_renewal_waiters.py does on SQLite. Hand-shakes, not sleeps: the second replica's lock is
waited for in pg_locks.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from test_delivery_races import downstream

from gateway.deliver import claims, outbox
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server


def _renamed(conn: Any, first: httpx.Response) -> int:
    """The first message's delivery, pending again on route 'renamed' (which the first replica does not configure)."""
    with outbox.transaction(conn):
        conn.execute("UPDATE delivery SET route = 'renamed', status = 'pending' WHERE message_id = ?",
                     (int(first.headers["x-overstap-message"]),))
    ((delivery,),) = conn.execute("SELECT id FROM delivery").fetchall()
    return int(delivery)


def _held(conn: Any, route: str) -> bool:
    """Whether a replica holds the shared lock of (route, new): what the answering replica asks, seen in pg_locks."""
    return bool(conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = ? AND "
                             "objid = ? AND objsubid = 2 AND granted",
                             (claims.ROUTE_CLASS, claims.route_id(route, outbox.NEW))).fetchone()[0])


def test_a_route_no_live_replica_configures_is_answered_at_once_and_one_another_configures_waits(
        start: Start, server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A alone: the re-send is a Fo03 at once (ack_timeout 30 s: no 504), naming the route, stored, pending. B starts
    configuring 'renamed' (its downstream holds the send): the re-send on A waits (ack_timeout 1 s) for a 504 naming
    the route; let go, B delivers it: A, which saw the row at its rescans, never claimed a key it cannot deliver."""
    database = database_for(server, request, "nods")
    got: list[tuple[str, str]] = []
    go = threading.Event()
    with ServerThread(downstream(lambda n: "bv" if n == 0 else "hold", go, got)) as ds:
        a, gw_a = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 30}}, {}, store=database)
        assert gw_a.store.shared
        body = variant(sample(), 9912)
        first = httpx.post(a.url + "/soap", content=body, timeout=30)
        assert first.status_code == 200 and "Bv03Bericht" in first.text, first.text
        conn: Any = PgConnection(database)
        try:
            assert wait_for(lambda: _held(conn, "default"), timeout=60)  # A's own route: A holds its lock
            delivery = _renamed(conn, first)
            assert not _held(conn, "renamed")
            alone = httpx.post(a.url + "/soap", content=body, timeout=60)
            assert alone.status_code == 500 and "Bv03Bericht" not in alone.text, alone.text  # SOAP 1.1 fault
            assert f"its delivery {delivery} is of route 'renamed', which has no new downstream on any live replica: " \
                   "it is not delivered until one is configured" in alone.text, alone.text
            assert "not yet accepted downstream" not in alone.text and alone.headers["x-overstap-duplicate"] == "true"
            assert outbox.delivery(conn, delivery)["status"] == outbox.PENDING and len(got) == 1

            # A's rescans have seen the row (and, before session 29, claimed its key for good: B never sent it)
            assert wait_for(lambda: ("renamed", outbox.NEW) in gw_a.forwarder._unrouted, timeout=60)
            start({"renamed": {"downstream": ds.url}}, {}, store=database)
            assert wait_for(lambda: _held(conn, "renamed"), timeout=60)  # B says it configures 'renamed'
            gw_a.config.routes["default"].ack_timeout = 1  # type: ignore[misc]
            waited = httpx.post(a.url + "/soap", content=body, timeout=60)
            said = (f"not yet accepted downstream within 1s; route 'renamed' has no new downstream on this replica, "
                    f"only one configuring it delivers delivery {delivery}; a re-send is recognised")
            assert waited.status_code == 500 and f"{said}</StUF:omschrijving>" in waited.text, waited.text
            go.set()
            assert wait_for(lambda: outbox.delivery(conn, delivery)["status"] == outbox.DELIVERED, timeout=60), got
            assert [how for _ref, how in got] == ["bv", "hold"]  # B sent it, once
        finally:
            go.set()
            conn.close()
