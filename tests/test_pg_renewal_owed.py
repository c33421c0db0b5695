"""A StUF019 renewal a dead replica owed, paid once by the replicas on one PostgreSQL store (session 27).

Why: on a shared store the replica that got the StUF019 renews the envelope just after the dead letter's COMMIT;
one that dies in between leaves the debt in the dead letter (``delivery.renewal_owed``). Replicas that start pay it
at once, others at their poll once it is older than ``RENEW_GRACE``, and the write that queues the new envelope
claims it: several replicas asking at the same moment renew it once, one new envelope, delivered once. Real parts:
in-thread sidecars on one real PostgreSQL database, the strict GGk chain stand-in on 127.0.0.1; the moment the
replicas ask is held by a barrier so both really ask together.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from typing import Any

import pg_helpers
import pytest
from ggk_chain_standin import BV, DOWN, StrictChain
from pg_helpers import database_for
from proxy_helpers import Start, wait_for
from test_ggk_renewal_owed import RETRY, owed_stuf019

from gateway.deliver import outbox
from gateway.deliver.forwarder import Forwarder
from gateway.pgstore.conn import PgConnection
from gateway.proxy import service

server = pg_helpers.server
COLUMNS = ("id", "status", "referentienummer", "reply_code", "reason", "renewal_owed", "replays")
ROUTES = {"default": {"downstream": "isd", "profile": "ggk"}}


def _row(conn: Any) -> Any:
    def row(message_id: str) -> Mapping[str, Any]:
        found = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM delivery WHERE message_id = ? AND target = 'new'",
                             (int(message_id),)).fetchone()
        return dict(zip(COLUMNS, found, strict=True))
    return row


def _paid_once(conn: Any, chain: StrictChain, mid: str, old: str) -> None:
    """The message went on in one new envelope, delivered once: two queuings (the operator's replay as stored and
    the renewal), one ``ggk-replaced`` step, and the chain offered the new envelope once."""
    row = _row(conn)
    assert wait_for(lambda: row(mid)["status"] == outbox.DELIVERED, timeout=30), row(mid)
    done = row(mid)
    assert done["referentienummer"] != old and (done["reply_code"], done["renewal_owed"], done["replays"]) == \
        ("Bv03", 0, 2), done
    assert conn.execute("SELECT value FROM remembered WHERE kind = 'ggk-replaced' AND key = ?",
                        (old,)).fetchall() == [(done["referentienummer"],)]
    assert wait_for(lambda: not conn.execute("SELECT 1 FROM delivery WHERE status = 'pending'").fetchall())
    offers = [(o.ref, o.answer) for o in chain.offers if o.ref in (old, done["referentienummer"])]
    assert offers == [(old, DOWN), (old, DOWN), (old, "Fo03 StUF019"), (done["referentienummer"], BV)]


def test_two_replicas_starting_together_renew_what_a_dead_one_owed_once(
        start: Start, server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica writes the StUF019 dead letter and stops without renewing it (its renewal never ran); two replicas
    start, each asks for the renewal at start, both at the same moment: one new envelope, delivered once."""
    database = database_for(server, request, "pg_owed")
    monkeypatch.setattr(Forwarder, "renew_grace", 3600.0)  # no poll pays it: the start-up look must
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        first, gw = start(ROUTES, downstreams, admin_key="geheim", store=database)

        async def never(delivery_id: int) -> bool:  # as if killed right after the dead letter's COMMIT
            return False

        gw.forwarder.renew = never
        conn: Any = PgConnection(database)
        row = _row(conn)
        _, mid, old = owed_stuf019(first.url, row, chain, 9601)
        assert wait_for(lambda: row(mid)["renewal_owed"] == 1) and row(mid)["reply_code"] == "Fo03 StUF019"
        first.stop()
        barrier, asked = threading.Barrier(2, timeout=30), []
        real = service.renew_stale

        async def together(gateway: Any, delivery_id: int) -> bool:
            asked.append(id(gateway))
            await asyncio.to_thread(barrier.wait)
            return await real(gateway, delivery_id)

        monkeypatch.setattr(service, "renew_stale", together)
        start(ROUTES, downstreams, admin_key="geheim", store=database)
        start(ROUTES, downstreams, admin_key="geheim", store=database)
        _paid_once(conn, chain, mid, old)
        assert len(set(asked)) == 2, asked  # both replicas asked, at once
        conn.close()


def test_a_live_replicas_poll_pays_the_renewal_its_writer_never_made(
        start: Start, server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas whose renewal after the dead letter never runs (as if the writer died at once): the debt, older
    than the grace, is paid at their polls, once."""
    database = database_for(server, request, "pg_owed")
    monkeypatch.setattr(Forwarder, "renew_grace", 0.5)
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        one, gw_one = start(ROUTES, downstreams, admin_key="geheim", store=database)
        _, gw_two = start(ROUTES, downstreams, admin_key="geheim", store=database)
        for gw in (gw_one, gw_two):
            gw.forwarder._renew_now = lambda *_args: None  # type: ignore[method-assign]
        conn: Any = PgConnection(database)
        _, mid, old = owed_stuf019(one.url, _row(conn), chain, 9701)
        _paid_once(conn, chain, mid, old)
        conn.close()
