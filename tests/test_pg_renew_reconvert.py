"""Session 25's StUF019 renewal and re-conversion, on PostgreSQL with two replicas sharing the store.

Why: both were tested on SQLite, one sidecar; on a shared store a delivery is sent by whichever replica holds its
order key's claim (gateway/deliver/claiming.py), so the replica that renews an envelope or converts a zaak anew need
not be the one that may send the result. Real parts: two in-thread sidecars on one real PostgreSQL database, the
strict GGk chain stand-in (tests/ggk_chain_standin.py) or the testbed's reference receiver over HTTP, and the test
holding a key's claim as a third replica would (a session advisory lock on its own connection).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
from click.testing import CliRunner
from ggk_chain_standin import BV, DOWN, StrictChain
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from reconvert_helpers import StrictReceiver, broken_registry, fix_mapping
from test_reconvert import B01, B02, B04, _rows

from gateway.cli import main
from gateway.deliver import claims, outbox
from gateway.pgstore.conn import PgConnection
from gateway.testbed.app import create_app as reference_app

server = pg_helpers.server
ADMIN = {"X-Admin-Key": "geheim"}
HELD = 1.5
"""Seconds the test watches that nothing is sent while it holds a key (a wrong send comes within a 0.1 s poll)."""


class CountingReceiver(StrictReceiver):
    """The strict reference receiver, recording every referentienummer it was offered (a resend too)."""

    def __init__(self) -> None:
        super().__init__()
        self.offered: list[str] = []

    def receive(self, data: bytes, soap_action: str | None = None) -> Any:
        answer = super().receive(data, soap_action)
        self.offered.append(answer.referentienummer or "?")
        return answer


def _key(conn: Any, delivery_id: int) -> int:
    ((route, target, order_key),) = _rows(conn, "SELECT route, target, order_key FROM delivery WHERE id = ?",
                                          delivery_id)
    return claims.lock_id(route, target, order_key)


def _try_hold(holder: Any, lid: int) -> bool:
    return bool(holder.execute("SELECT pg_try_advisory_lock(%s, %s)", (claims.CLAIM_CLASS, lid)).fetchone()[0])


def _let_go(holder: Any, lid: int) -> None:
    assert holder.execute("SELECT pg_advisory_unlock(%s, %s)", (claims.CLAIM_CLASS, lid)).fetchone()[0]


def refused_on_two_replicas(start: Start, tmp_path: Path, downstream: str, database: str,
                            **top: Any) -> tuple[ServerThread, ServerThread, Any, int, str]:
    """Two replicas with a mapping fault on ``database``; B01 refused through the first, B02 (rendered on top of it)
    through the second. (the replicas, a store connection, the creeerZaak's delivery id, its zaak)."""
    routes = {"default": {"downstream": downstream}}
    broken = broken_registry(tmp_path)
    one, _ = start(routes, {}, reg=broken, store=database, **top)
    two, _ = start(routes, {}, reg=broken, store=database, **top)
    conn: Any = PgConnection(database)
    for replica, name in ((one, B01), (two, B02)):
        assert httpx.post(replica.url + "/soap", content=sample(name), timeout=30).status_code == 200
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0)
    ((creeer, zaak),) = _rows(conn, "SELECT id, zaak FROM delivery WHERE status = 'dead' ORDER BY id LIMIT 1")
    return one, two, conn, creeer, zaak


def test_admin_reconvert_on_one_replica_while_the_other_holds_the_zaak(
        start: Start, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    """B01 and B02 refused for a mapping fault (each through another replica); the fix reloaded on both; while the
    zaak's key is held elsewhere, replica one converts the zaak anew and B04 arrives at replica two. Nothing goes
    until the key is let go; then the zaak converted anew, B04 after it, each message once."""
    database = database_for(server, request, "pg_renew")
    receiver = CountingReceiver()
    with ServerThread(reference_app(receiver)) as ds:
        one, two, conn, creeer, zaak = refused_on_two_replicas(start, tmp_path, ds.url + "/soap", database,
                                                               admin_key="geheim")
        holder = psycopg.connect(database, autocommit=True)
        try:
            assert len(receiver) == 0 and len(receiver.offered) == 2  # both refused: the receiver holds nothing
            fix_mapping(tmp_path)
            for replica in (one, two):
                assert httpx.post(replica.url + "/admin/reload", headers=ADMIN, timeout=60).json()["reloaded"]
            lid = _key(conn, creeer)
            assert wait_for(lambda: _try_hold(holder, lid))  # once the replicas let the dead letters' key go
            answer = httpx.post(one.url + "/admin/reconvert", json={"ids": [creeer]}, headers=ADMIN, timeout=60)
            assert answer.status_code == 200, answer.text
            assert [len(r["queued"]) for r in answer.json()["results"]] == [1, 1]
            assert httpx.post(two.url + "/soap", content=sample(B04), timeout=30).status_code == 200
            assert not wait_for(lambda: len(receiver.offered) > 2, timeout=HELD), "sent while another held the key"
            pending = _rows(conn, "SELECT id FROM delivery WHERE status = 'pending' ORDER BY id")
            assert len(pending) >= 3 and _key(conn, pending[0][0]) == lid
            _let_go(holder, lid)
            assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0,
                            timeout=30)
        finally:
            holder.close()
        statuses = _rows(conn, "SELECT id, status FROM delivery ORDER BY id")
        assert [s for _, s in statuses[:2]] == ["dead", "dead"] and {s for _, s in statuses[2:]} == {"delivered"}
        sent = _rows(conn, "SELECT referentienummer FROM delivery WHERE id > 2 ORDER BY id")
        assert receiver.offered[2:] == [r for (r,) in sent]  # each once, in the order they were stored
        held = receiver.zaak(zaak)
        assert held is not None and held["extraElementen"]["product.omvang.volume"] == "22500"
        assert held["berichten"] == [r for (r,) in sent] and len(held["statussen"]) >= 2
        conn.close()


# ---------------------------------------------------------------- StUF019 renewal


class HoldingChain(StrictChain):
    """The strict chain; when ``grab`` is set, its StUF019 answer waits until the test's connection queues for the
    sending replica's claim, so the test (the other replica) holds the key from the moment that replica lets go."""

    grab: Any = None

    def take(self, body: bytes) -> tuple[int, bytes] | None:
        answer = super().take(body)
        if answer is not None and b"StUF019" in answer[1] and self.grab is not None:
            grab, self.grab = self.grab, None
            grab()
        return answer


def _ggk_routes(chain: StrictChain) -> tuple[dict[str, Any], dict[str, Any]]:
    retry = {"max_attempts": 2, "base_delay": 0.05, "max_delay": 0.1}
    return ({"default": {"downstream": "isd", "profile": "ggk"}},
            {"isd": {"url": chain.url, "timeout": 2.0, "retry": retry}})


def _delivery(conn: Any, message_id: str) -> Any:
    return conn.execute("SELECT id, status, referentienummer, reply_code, reason FROM delivery WHERE message_id = ?"
                        " AND target = 'new'", (int(message_id),)).fetchone()


def test_a_stuf019_replay_is_renewed_on_one_replica_while_the_other_holds_the_key(
        start: Start, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    """An envelope the chain never answered (503, a dead letter) is replayed as stored after a later envelope of its
    zender; the chain answers it StUF019 and the replica that sent it renews it at once, while the key is taken by
    another (the test) from the moment it let go. The new envelope waits for the key, then goes once: Bv03. (No
    poll pays the renewal here, tests/test_pg_renewal_owed.py has those: the replica's own renewal must.)"""
    database = database_for(server, request, "pg_renew")
    with HoldingChain() as chain:
        routes, downstreams = _ggk_routes(chain)
        one, _ = start(routes, downstreams, admin_key="geheim", store=database, renew_grace=3600)
        two, _ = start(routes, downstreams, admin_key="geheim", store=database, renew_grace=3600)
        conn: Any = PgConnection(database)
        holder = psycopg.connect(database, autocommit=True)
        try:
            chain.plan.extend([DOWN, BV])
            first = httpx.post(one.url + "/soap", content=variant(sample(), 9301), timeout=30)
            assert first.status_code == 200, first.text
            mid = first.headers["x-overstap-message"]
            assert wait_for(lambda: _delivery(conn, mid)["status"] == outbox.DEAD)
            old = _delivery(conn, mid)["referentienummer"]
            later = httpx.post(two.url + "/soap", content=variant(sample(), 9302).replace(b"123456782", b"111222333"),
                               timeout=30)  # another client: another key, a later envelope of the zender
            assert later.status_code == 200, later.text
            assert wait_for(lambda: _delivery(conn, later.headers["x-overstap-message"])["status"] ==
                            outbox.DELIVERED)
            delivery_id = _delivery(conn, mid)["id"]
            lid = _key(conn, delivery_id)
            chain.recover()
            granted = threading.Event()
            chain.grab = lambda: _queue_for(holder, database, lid, granted)
            replayed = httpx.post(two.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=30)
            (result,) = replayed.json()["results"]
            assert result["ok"] and result["note"].startswith("queued again as stored"), result
            assert wait_for(lambda: _delivery(conn, mid)["referentienummer"] != old, timeout=20), "not renewed"
            renewed = _delivery(conn, mid)
            assert renewed["status"] == outbox.PENDING and f"(was {old})" in renewed["reason"], dict(renewed)
            assert granted.wait(10), "the sending replica never let the key go"
            time.sleep(HELD)
            assert renewed["referentienummer"] not in {o.ref for o in chain.offers}, "sent while another held the key"
            _let_go(holder, lid)
            assert wait_for(lambda: _delivery(conn, mid)["status"] == outbox.DELIVERED, timeout=20)
        finally:
            holder.close()
        time.sleep(0.5)  # a second send of the new envelope would be on its way by now
        done = _delivery(conn, mid)
        assert (done["referentienummer"], done["reply_code"]) == (renewed["referentienummer"], "Bv03"), dict(done)
        offers = [(o.ref, o.answer) for o in chain.offers if o.ref in (old, done["referentienummer"])]
        downs = offers.index((old, "Fo03 StUF019"))
        assert downs >= 1 and offers == [(old, DOWN)] * downs + [(old, "Fo03 StUF019"), (done["referentienummer"], BV)]
        assert max(Counter(o.ref for o in chain.offers if o.answer != DOWN).values()) == 1  # each envelope taken once
        conn.close()


def _queue_for(holder: Any, database: str, lid: int, granted: threading.Event) -> None:
    """Queue the holder for the claim (a blocking lock in a thread; ``granted`` once it has it) and return once
    PostgreSQL shows it waiting: it gets the claim before any replica's try-lock, which conflicts with a waiter."""
    def lock() -> None:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", (claims.CLAIM_CLASS, lid))
        granted.set()

    threading.Thread(target=lock, daemon=True).start()
    with psycopg.connect(database, autocommit=True) as probe:
        assert wait_for(lambda: probe.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT "
                                              "granted AND objid = %s::oid", (lid & 0xFFFFFFFF,)).fetchone()[0] == 1,
                        timeout=10), "the holder did not queue for the claim"


# ---------------------------------------------------------------- the CLI's reconvert beside the replicas


def test_the_clis_reconvert_is_sent_at_once_not_at_the_replicas_next_poll(
        start: Start, tmp_path: Path, server: str, request: pytest.FixtureRequest) -> None:
    """``overstap outbox reconvert --store`` beside two replicas that poll the outbox once a minute: its COMMIT
    NOTIFYs them (gateway/pgstore/notify.py), so the zaak converted anew reaches the receiver in seconds. At their
    poll, as before, the deliveries waited up to ``poll_interval`` (0.01-0.77 s measured at the default 1 s)."""
    database = database_for(server, request, "pg_renew")
    receiver = CountingReceiver()
    with ServerThread(reference_app(receiver)) as ds:
        _one, _two, conn, creeer, zaak = refused_on_two_replicas(start, tmp_path, ds.url + "/soap", database,
                                                                 poll_interval=60)
        assert _rows(conn, "SELECT status FROM delivery ORDER BY id") == [("dead",), ("dead",)]
        result = CliRunner().invoke(main, ["outbox", "reconvert", str(creeer), "--store", database])
        assert result.exit_code == 0, result.output
        began = time.monotonic()
        assert wait_for(lambda: _rows(conn, "SELECT count(*) FROM delivery WHERE status = 'pending'")[0][0] == 0,
                        timeout=15), "the reconvert's deliveries waited for a poll"
        print(f"\nsent {time.monotonic() - began:.2f} s after the CLI's reconvert")
        sent = _rows(conn, "SELECT referentienummer FROM delivery WHERE id > 2 ORDER BY id")
        assert receiver.offered[2:] == [r for (r,) in sent] and len(sent) == 2
        held = receiver.zaak(zaak)
        assert held is not None and held["extraElementen"]["product.omvang.volume"] == "22500"
        conn.close()
