"""Senders waiting on a StUF019 renewal that two replicas on one PostgreSQL store both ask for (session 28).

Why: session 27 left these paths without a test of their own. Replica A holds a zaak's key and sends its GGk envelope;
the chain answers Fo03 StUF019 (stale: the zender sent a later envelope since), and the renewal in a new envelope is
owed (docs/ggk-profile.md 5.2). Replica B has a sender of the same message waiting on that delivery (a re-send on
``ack: delivered``: B watches the status A stores), so B asks for the renewal too. Whoever wins, every waiting sender
must hear the new envelope's verdict: not the superseded envelope's StUF019, not a 504, and the new envelope goes once.
Real parts: two in-thread sidecars on one real PostgreSQL database, the strict GGk chain stand-in on 127.0.0.1; which
replica renews first is held with events in wrappers of each replica's ``forwarder.renew`` (the real renewal runs),
never by timing.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pg_helpers
import pytest
from ggk_chain_standin import BV, DOWN, HELD, StrictChain
from pg_helpers import database_for
from proxy_helpers import Start, sample, variant, wait_for
from test_waiters_claims import _lid

from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server
RETRY = {"max_attempts": 200, "base_delay": 0.05, "max_delay": 0.1}
ROUTES = {"default": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 60},
          "durable": {"downstream": "isd", "profile": "ggk"}}
STUF055 = "Fo03 StUF055"
NO_POLL = 120.0
"""A poll beyond the senders' ``ack_timeout`` (60 s): what they hear comes from notifications, or is a 504."""


@dataclass
class Pair:
    """Two replicas (``a`` holds the key and gets the StUF019; ``b`` watches) with one waiting sender each."""

    a: Any
    b: Any
    conn: Any
    chain: StrictChain
    delivery: int
    old: str
    lid: int
    answers: dict[str, httpx.Response] = field(default_factory=dict)
    senders: list[threading.Thread] = field(default_factory=list)

    def row(self) -> tuple[str, str, str | None]:
        return tuple(self.conn.execute("SELECT status, referentienummer, reply_code FROM delivery WHERE id = ?",
                                       (self.delivery,)).fetchone())  # type: ignore[return-value]

    def heard(self) -> dict[str, tuple[int, str]]:
        for sender in self.senders:
            sender.join(90)
        return {who: (a.status_code, a.text) for who, a in self.answers.items()}

    def offers(self, ref: str) -> list[tuple[str, bool]]:
        return [(o.answer, o.repeat) for o in self.chain.offers if o.ref == ref]


def _sender(url: str, body: bytes, who: str, answers: dict[str, httpx.Response]) -> threading.Thread:
    sender = threading.Thread(target=lambda: answers.__setitem__(who, httpx.post(url + "/soap", content=body,
                                                                                  timeout=90)))
    sender.start()
    return sender


def _held(real: Callable[[int], Any], before: Callable[[], None], said: list[bool]) -> Callable[[int], Any]:
    """A replica's ``forwarder.renew`` that runs ``before`` (in a thread: it waits on events) and then the real one."""
    async def renew(delivery_id: int) -> bool:
        await asyncio.to_thread(before)
        said.append(await real(delivery_id))
        return said[-1]
    return renew


@contextmanager
def stale_on_a(start: Start, server: str, request: pytest.FixtureRequest, number: int,
               then: str, poll: float = 0.1) -> Iterator[Pair]:
    """Replica A sends a message while the chain is down for it (HTTP 503, retried: A holds the key); replica B starts
    and a re-send of the message waits on B; a later envelope of the zender is delivered. ``then`` is the chain's
    answer to the next new envelope (the renewal's). The caller recovers the chain: A's retry gets StUF019."""
    database = database_for(server, request, "rw")
    with StrictChain() as chain:
        downstreams = {"isd": {"url": chain.url, "timeout": 5.0, "retry": RETRY}}
        a, gw_a = start(ROUTES, downstreams, store=database, poll_interval=poll)
        conn: Any = PgConnection(database)
        answers: dict[str, httpx.Response] = {}
        body = variant(sample(), number)
        chain.plan.append(DOWN)
        senders = [_sender(a.url, body, "on A", answers)]
        try:
            assert wait_for(lambda: len(chain.offers) >= 1)  # A holds the key: it retries while the chain is down
            b, gw_b = start(ROUTES, downstreams, store=database, poll_interval=poll)
            senders.append(_sender(b.url, body, "on B", answers))
            assert wait_for(lambda: sum(map(len, gw_b.forwarder._waiters.values())) == 1), answers
            ((delivery, old),) = conn.execute("SELECT id, referentienummer FROM delivery").fetchall()
            assert not gw_b.forwarder.tracks(delivery) and gw_a.forwarder.tracks(delivery)
            later = httpx.post(a.url + "/soap/durable", content=variant(sample(), number + 1), timeout=30)
            assert later.status_code == 200, later.text
            assert wait_for(lambda: any(o.identificatie == f"t{number + 1:011d}" and o.answer == BV
                                        for o in chain.offers))
            chain.plan.append(then)
            yield Pair(gw_a, gw_b, conn, chain, delivery, old, _lid(conn, delivery), answers, senders)
        finally:
            chain.let_go.set()
            for sender in senders:
                sender.join(90)
            conn.close()


@pytest.mark.parametrize(("winner", "poll"), [(HELD, 0.1), (STUF055, 0.1), (HELD, NO_POLL)],
                         ids=["found-pending", "found-refused", "found-pending-no-poll"])
def test_a_renewal_that_loses_to_another_replicas_has_its_senders_hear_the_winners_envelope(
        start: Start, server: str, request: pytest.FixtureRequest, winner: str, poll: float) -> None:
    """A's renewal is held while B (watching) renews and sends the new envelope; A's renewal, let go, loses: it finds
    the row pending again (the new envelope on the wire, its answer held) or already refused (Fo03 StUF055). A's
    sender must hear that envelope's verdict too, as B's does: the Bv03, or the StUF055; never the StUF019 of the
    envelope both renewals replaced, never a 504. A is kept from taking the key back (its claims of it refused, as
    when B holds it), so B sends the new envelope and A learns its verdict only from the store. With the replicas'
    polls beyond the senders' ``ack_timeout`` (session 29) each replica learns the other's status from its
    notification (gateway/pgstore/notify.py): B the StUF019 dead letter it renews, A the new envelope's Bv03."""
    number = {(HELD, 0.1): 9810, (STUF055, 0.1): 9820}.get((winner, poll), 9840)
    with stale_on_a(start, server, request, number, winner, poll) as pair:
        a_go, a_said = threading.Event(), []
        pair.a.forwarder.renew = _held(pair.a.forwarder.renew, lambda: a_go.wait(60), a_said)
        real_claim = pair.a.forwarder._claim
        pair.a.forwarder._claim = lambda c, ids: real_claim(c, [i for i in ids if i != pair.lid])
        pair.chain.recover()  # A's retry: StUF019; its renewal waits; B's watch finds the dead letter and renews
        assert wait_for(lambda: pair.row()[1] != pair.old and pair.offers(pair.row()[1]) != [], timeout=30), \
            pair.row()
        new = pair.row()[1]
        if winner == STUF055:
            assert wait_for(lambda: pair.row() == (outbox.DEAD, new, STUF055)), pair.row()
            assert "on B" in pair.answers or wait_for(lambda: "on B" in pair.answers)
        else:
            assert pair.offers(new) == [(HELD, False)] and pair.row()[0] == outbox.PENDING
            assert not pair.answers, {w: a.text[-300:] for w, a in pair.answers.items()}
        a_go.set()
        assert wait_for(lambda: a_said == [winner == HELD]), a_said  # lost: renewed meanwhile / owes none now
        pair.chain.let_go.set()  # the held answer dropped: B sends the new envelope again and the chain says Bv03
        heard = pair.heard()
        if winner == HELD:
            assert {w: s for w, (s, _t) in heard.items()} == {"on A": 200, "on B": 200}, heard
            assert all("Bv03Bericht" in t for _s, t in heard.values()), heard
            assert pair.row() == (outbox.DELIVERED, new, "Bv03")
            assert pair.offers(new) == [(HELD, False), (BV, True)]  # one envelope, taken once
        else:
            assert {w: s for w, (s, _t) in heard.items()} == {"on A": 500, "on B": 500}, heard
            assert all("StUF055" in t and "StUF019" not in t for _s, t in heard.values()), \
                [(w, re.findall(r"<StUF:code>([^<]+)<|<StUF:omschrijving>([^<]+)<", t)) for w, (_s, t) in heard.items()]
            assert pair.offers(new) == [(STUF055, False)]
        assert pair.offers(pair.old)[-1:] == [("Fo03 StUF019", False)]
        assert pair.conn.execute("SELECT value FROM remembered WHERE kind = 'ggk-replaced' AND key = ?",
                                 (pair.old,)).fetchall() == [(new,)]  # renewed once: no third envelope


def test_a_senders_watch_on_another_replica_hears_the_envelope_that_replica_renewed(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """B's sender waits on the delivery A holds; the chain answers A StUF019 and A renews it. B's watch found the dead
    letter first and asked too (held until A's renewal is done, so A's wins and B's finds it renewed): B's sender
    hears the new envelope's Bv03, as A's does; the new envelope goes once. B is kept from taking the zaak's key (its
    claims of it refused, as while A holds it): A sends the new envelope, B's sender hears it through its watch."""
    with stale_on_a(start, server, request, 9830, BV) as pair:
        b_asked, a_done, a_said, b_said = threading.Event(), threading.Event(), [], []

        def b_waits() -> None:
            b_asked.set()
            assert a_done.wait(60)

        pair.a.forwarder.renew = _held(pair.a.forwarder.renew, lambda: b_asked.wait(60), a_said)
        pair.b.forwarder.renew = _held(pair.b.forwarder.renew, b_waits, b_said)
        real_claim = pair.b.forwarder._claim  # A keeps the zaak: B learns the new envelope's verdict from the store
        pair.b.forwarder._claim = lambda c, ids: real_claim(c, [i for i in ids if i != pair.lid])
        pair.chain.recover()
        assert wait_for(lambda: bool(a_said), timeout=60)  # B saw the dead letter and asked; A renewed first
        a_done.set()
        assert b_asked.is_set() and a_said == [True]
        assert wait_for(lambda: b_said == [True], timeout=30), b_said  # renewed meanwhile: B's waits on
        heard = pair.heard()
        assert {w: s for w, (s, _t) in heard.items()} == {"on A": 200, "on B": 200}, heard
        assert all("Bv03Bericht" in t for _s, t in heard.values()), heard
        status, new, code = pair.row()
        assert (status, code) == (outbox.DELIVERED, "Bv03") and new != pair.old
        assert pair.offers(new) == [(BV, False)]
        assert pair.conn.execute("SELECT value FROM remembered WHERE kind = 'ggk-replaced' AND key = ?",
                                 (pair.old,)).fetchall() == [(new,)]
