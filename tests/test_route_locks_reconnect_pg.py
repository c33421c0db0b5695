"""A replica's routes stay said while one of its connections is lost (session 30).

Why: a replica says which (route, target) it configures with shared advisory locks (gateway/deliver/claims.py), and
another replica answers an ``ack: delivered`` re-send whose route it has no downstream for with an immediate Fo03
StUF058 "not delivered" when no live replica holds that route's lock. Before session 30 the locks lived on the
listening connection alone, which after a loss was opened again only after ``poll_interval`` (30 s and more in
production): for that whole time a re-send got "not delivered" though a live replica would deliver it. Now the
listener reconnects after ``FIRST_RETRY`` (doubling while the store stays away, up to ``poll_interval``) and the
reader connection holds the routes too.

Real parts: in-thread sidecars on a fresh PostgreSQL database, a real downstream on 127.0.0.1 (holding replica A's
send until the test lets it go); A's listening connection cut with ``pg_terminate_backend`` and kept from coming
back with ``ALLOW_CONNECTIONS false``. Hand-shakes, not sleeps: every state is waited for in pg_stat_activity and
pg_locks, from autocommit connections (a snapshot inside a transaction would hold still), with a bound.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import httpx
import pg_helpers
import pytest
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from test_delivery_races import downstream
from test_no_downstream_pg import _renamed

from gateway.deliver import claims, outbox
from gateway.pgstore.conn import PgConnection
from gateway.pgstore.notify import FIRST_RETRY, retry_pause

server = pg_helpers.server

LISTENERS = ("SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid WHERE a.query LIKE 'LISTEN%%'"
             " AND l.locktype = 'advisory' AND l.classid = %s AND l.objid = %s::oid AND l.objsubid = 2 AND l.granted")
"""The listening connections holding a route's shared lock (the reader's last query is never a LISTEN)."""


def _listeners(admin: Any, route: str) -> list[int]:
    return [int(r[0]) for r in admin.execute(LISTENERS, (claims.ROUTE_CLASS, claims.route_id(route, outbox.NEW)))]


def _holders(admin: Any, route: str) -> int:
    """How many connections hold (route, new)'s shared lock: what the answering replica's try-lock conflicts with."""
    return int(admin.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND "
                             "objid = %s::oid AND objsubid = 2 AND granted",
                             (claims.ROUTE_CLASS, claims.route_id(route, outbox.NEW))).fetchone()[0])


def _admin(database: str) -> Any:
    import psycopg

    return psycopg.connect(database, autocommit=True)


def test_the_reconnect_pauses_start_short_and_double_up_to_the_poll_interval() -> None:
    """A lost listener comes back after 0.1 s, then 0.2, 0.4 … while the store stays away, never longer apart than
    ``poll_interval``; a poll_interval below the first pause is the pause; a store away for days overflows nothing."""
    assert FIRST_RETRY == 0.1
    assert [retry_pause(n, 1.0) for n in range(1, 8)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert [retry_pause(n, 0.05) for n in range(1, 4)] == [0.05, 0.05, 0.05]
    assert retry_pause(10**6, 30.0) == 30.0


def test_a_cut_listener_is_back_long_before_the_poll_each_time(
        start: Start, server: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    """poll_interval 60 s: A's listening connection, cut, is open again and holds A's route within 20 s (before
    session 30 it waited the 60 s); cut again, again (the count of failures in a row starts anew once it listens:
    each loss is logged once, and each return)."""
    caplog.set_level(logging.INFO, logger="overstap.forwarder")
    database = database_for(server, request, "relisten")
    _a, gw_a = start({"default": {"downstream": "http://127.0.0.1:9/"}}, {}, store=database, poll_interval=60)
    assert gw_a.store.shared
    with _admin(database) as admin:
        assert wait_for(lambda: len(_listeners(admin, "default")) == 1, timeout=60)
        for cut in (1, 2):
            (listener,) = _listeners(admin, "default")
            assert admin.execute("SELECT pg_terminate_backend(%s)", (listener,)).fetchone()[0]
            back = wait_for(lambda: _listeners(admin, "default") not in ([], [listener]), timeout=20)  # noqa: B023
            assert back, _listeners(admin, "default")
            assert wait_for(lambda: _said(caplog, "listening for outbox changes again") == cut, timeout=20)  # noqa: B023
            assert _said(caplog, "listening for outbox changes failed") == cut, caplog.text[-2000:]


def _said(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in r.getMessage() for r in caplog.records)


def test_a_resend_is_not_answered_not_delivered_while_the_replica_configuring_its_route_reconnects(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """B answers a re-send whose delivery only A's configuration routes. A's listening connection is cut and kept
    from reconnecting: A's reader still holds the route, so B's sender waits (ack_timeout 1 s) for the 504 naming
    the route, not an immediate "not delivered". Let back in, A listens again; let go, A delivers it once."""
    database = database_for(server, request, "relisten")
    got: list[tuple[str, str]] = []
    go = threading.Event()
    with ServerThread(downstream(lambda n: "bv" if n == 0 else "hold", go, got)) as ds, _admin(server) as owner:
        b, gw_b = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 30}}, {},
                        store=database)
        body = variant(sample(), 9913)
        first = httpx.post(b.url + "/soap", content=body, timeout=30)
        assert first.status_code == 200 and "Bv03Bericht" in first.text, first.text
        conn: Any = PgConnection(database)
        name = database.rsplit("/", 1)[1]
        try:
            delivery = _renamed(conn, first)
            start({"renamed": {"downstream": ds.url}}, {}, store=database, poll_interval=60)
            with _admin(database) as admin:
                assert wait_for(lambda: len(_listeners(admin, "renamed")) == 1, timeout=60)  # A's reader held it before
                (listener,) = _listeners(admin, "renamed")
                owner.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                assert admin.execute("SELECT pg_terminate_backend(%s)", (listener,)).fetchone()[0]
                assert wait_for(lambda: admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                                      (listener,)).fetchone()[0] == 0, timeout=30)

                gw_b.config.routes["default"].ack_timeout = 1  # type: ignore[misc]
                waited = httpx.post(b.url + "/soap", content=body, timeout=60)
                said = (f"not yet accepted downstream within 1s; route 'renamed' has no new downstream on this "
                        f"replica, only one configuring it delivers delivery {delivery}; a re-send is recognised")
                assert waited.status_code == 500 and f"{said}</StUF:omschrijving>" in waited.text, waited.text
                assert _listeners(admin, "renamed") == [] and _holders(admin, "renamed") == 1  # A's reader said it

                owner.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                assert wait_for(lambda: _listeners(admin, "renamed") not in ([], [listener]), timeout=60)
            go.set()
            assert wait_for(lambda: outbox.delivery(conn, delivery)["status"] == outbox.DELIVERED, timeout=60), got
            assert [how for _ref, how in got] == ["bv", "hold"]  # A sent it, once
        finally:
            go.set()
            owner.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            conn.close()
