"""A StUF019 renewal a dead replica owed, paid once by the replicas on one PostgreSQL store (session 27).

Why: on a shared store the replica that got the StUF019 renews the envelope just after the dead letter's COMMIT;
one that dies in between leaves the debt in the dead letter (``delivery.renewal_owed``). Replicas that start pay it
at once, others at their poll once it is older than ``renew_grace`` (10 s unless configured), and the write that
queues the new envelope claims it: several replicas asking at the same moment renew it once, one new envelope,
delivered once. Real parts:
in-thread sidecars on one real PostgreSQL database, the strict GGk chain stand-in on 127.0.0.1; the moment the
replicas ask is held by a barrier so both really ask together.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any

import pg_helpers
import pytest
from ggk_chain_standin import BV, DOWN, StrictChain
from pg_helpers import database_for
from proxy_helpers import Start, wait_for
from test_ggk_renewal_owed import RETRY, owed_stuf019

from gateway.deliver import forwarder_reads, outbox
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
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        top = {"admin_key": "geheim", "store": database, "renew_grace": 3600}  # no poll pays it: the start-up look must
        first, gw = start(ROUTES, downstreams, **top)

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
        start(ROUTES, downstreams, **top)
        start(ROUTES, downstreams, **top)
        _paid_once(conn, chain, mid, old)
        assert len(set(asked)) == 2, asked  # both replicas asked, at once
        conn.close()


def _writer_dies(start: Start, downstreams: dict[str, Any], database: str, grace: float) -> tuple[Any, ...]:
    """Two replicas with ``renew_grace: grace`` whose renewal after the dead letter never runs (as if its writer died
    at once): (the first's server, the two gateways)."""
    one, gw_one = start(ROUTES, downstreams, admin_key="geheim", store=database, renew_grace=grace)
    _, gw_two = start(ROUTES, downstreams, admin_key="geheim", store=database, renew_grace=grace)
    for gw in (gw_one, gw_two):
        assert gw.forwarder.renew_grace == grace  # the setting reached the replica's forwarder
        gw.forwarder._renew_now = lambda *_args: None  # type: ignore[method-assign]
    return one, gw_one, gw_two


def test_a_live_replicas_poll_pays_the_renewal_its_writer_never_made(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """A short ``renew_grace``: the debt, older than the grace, is paid at the replicas' polls, once."""
    database = database_for(server, request, "pg_owed")
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        one, _, _ = _writer_dies(start, downstreams, database, 0.5)
        conn: Any = PgConnection(database)
        _, mid, old = owed_stuf019(one.url, _row(conn), chain, 9701)
        _paid_once(conn, chain, mid, old)
        conn.close()


def test_a_long_grace_keeps_the_polls_off_a_fresh_debt(
        start: Start, server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long ``renew_grace`` (the replica that owes it may be paying it): polls that looked after the debt was
    committed found nothing to pay and left it; the same replicas with a short grace pay it, once. What the polls
    look for is read where they read it (``forwarder_reads.renewals_owed``), so the test knows they looked, and never
    waits on time."""
    database = database_for(server, request, "pg_owed")
    looks: list[tuple[float, list[int]]] = []
    armed = threading.Event()
    real = forwarder_reads.renewals_owed

    def looking(conn: Any, before: float) -> list[int]:
        counts, grace = armed.is_set(), time.time() - before  # a look begun once the debt was committed sees the row
        found = real(conn, before)
        if counts:
            looks.append((grace, found))
        return found

    monkeypatch.setattr(forwarder_reads, "renewals_owed", looking)
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 2.0, "retry": RETRY}}
        one, gw_one, gw_two = _writer_dies(start, downstreams, database, 3600)
        conn: Any = PgConnection(database)
        row = _row(conn)
        _, mid, old = owed_stuf019(one.url, row, chain, 9801)
        assert wait_for(lambda: row(mid)["renewal_owed"] == 1, timeout=30), row(mid)
        armed.set()
        assert wait_for(lambda: len(looks) >= 6, timeout=60), looks  # both replicas polled (0.1 s) a few times
        assert all(found == [] and grace > 3599 for grace, found in looks), looks  # the configured grace, asked
        left = row(mid)
        assert (left["status"], left["referentienummer"], left["renewal_owed"]) == (outbox.DEAD, old, 1), left
        for gw in (gw_one, gw_two):
            gw.forwarder.renew_grace = 0.5  # as if configured so: the same debt is now the polls' to pay
        _paid_once(conn, chain, mid, old)
        conn.close()
