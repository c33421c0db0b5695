"""A sender watching a delivery another replica holds hears its verdict at once: the settled write NOTIFYs (session 29).

Why: a sender on ``ack: delivered`` whose delivery another replica holds is answered from the status that replica
stores ("watched"). That status sent no notification, so the watching replica read it only at its next poll: with
``poll_interval`` above ``ack_timeout`` the sender got a 504 although the verdict was stored long before. Now the
settling replica's COMMIT NOTIFYs ``overstap_settled`` (once per COMMIT, only for routes a sender may wait on) and
the watching replica reads its watched rows when it hears it. Real parts: two in-thread sidecars on one real
PostgreSQL database, a downstream over HTTP on 127.0.0.1 whose answer the test holds with an event, a LISTEN
connection of the test's own counting the notifications; the polls are 30 s apart, far beyond every wait here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
from fastapi import FastAPI, Request, Response
from pg_helpers import database_for
from proxy_helpers import BV03, FO03, ServerThread, Start, sample, variant, wait_for
from test_delivery_races import _REF

from gateway.deliver import outbox
from gateway.deliver.claiming import _announced
from gateway.deliver.committer import GroupCommitter
from gateway.pgstore.notify import SETTLED

server = pg_helpers.server
POLL = 30.0
"""Seconds between the replicas' polls: what this test must see happen never waits for one."""
ACK_TIMEOUT = 12
"""The sender's wait for the verdict: well below the poll, so a verdict learnt at the poll is a 504."""


def held_downstream(go: threading.Event, verdict: str, got: list[str]) -> FastAPI:
    """A downstream that holds every answer until ``go``, then answers Bv03 (``bv``) or Fo03 StUF055 (``fo``)."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def take(path: str, request: Request) -> Response:
        found = _REF.search(await request.body())
        ref = found.group(1).decode() if found else "?"
        got.append(ref)
        while not go.is_set():
            await asyncio.sleep(0.01)
        if verdict == "fo":
            fo = FO03.format(ref=ref, code="StUF055", omschrijving="zaaktype onbekend")
            return Response(fo.encode(), status_code=500, media_type="text/xml")
        return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

    return app


def _sender(url: str, body: bytes, answers: dict[str, httpx.Response], who: str) -> threading.Thread:
    def post() -> None:
        answers[who] = httpx.post(url + "/soap", content=body, timeout=60, headers={"Content-Type": "text/xml"})
    sender = threading.Thread(target=post)
    sender.start()
    return sender


class Heard:
    """The test's own LISTEN on :data:`SETTLED`: how many notifications came (read until a quiet spell)."""

    def __init__(self, database: str) -> None:
        self.conn = psycopg.connect(database, autocommit=True)
        self.conn.execute(f"LISTEN {SETTLED}")

    def count(self, quiet: float = 0.5) -> int:
        return sum(1 for _n in self.conn.notifies(timeout=quiet))

    def close(self) -> None:
        self.conn.close()


@pytest.mark.parametrize("verdict", ["bv", "fo"])
def test_a_sender_watching_on_another_replica_hears_the_verdict_at_once_not_at_the_poll(
        start: Start, server: str, request: pytest.FixtureRequest, verdict: str) -> None:
    """A sender posts to replica A, which stores the message, claims its zaak and sends it (the downstream holds the
    answer); the sender offers it again to replica B (a re-send on ``ack: delivered``): B finds it pending and held
    by A, and watches its status. The downstream answers; A stores the verdict. B's sender hears that verdict
    within seconds, as A's does, with the downstream's StUF (a Bv03; a Fo03 naming StUF055): not a 504 after its
    ``ack_timeout``, the verdict learnt at B's poll 30 s later."""
    go, got = threading.Event(), []
    database = database_for(server, request, "sn")
    routes = {"default": {"downstream": "zs", "ack": "delivered", "ack_timeout": ACK_TIMEOUT}}
    answers: dict[str, httpx.Response] = {}
    senders: list[threading.Thread] = []
    with ServerThread(held_downstream(go, verdict, got)) as ds:
        downstreams = {"zs": {"url": ds.url, "timeout": 30.0}}
        a, gw_a = start(routes, downstreams, store=database, poll_interval=POLL)
        b, gw_b = start(routes, downstreams, store=database, poll_interval=POLL)
        try:
            body = variant(sample(), 2901 if verdict == "bv" else 2902)
            senders.append(_sender(a.url, body, answers, "on A"))
            assert wait_for(lambda: len(got) == 1)  # on the wire from A, its answer held
            senders.append(_sender(b.url, body, answers, "on B"))
            assert wait_for(lambda: bool(gw_b.forwarder._watched & set(gw_b.forwarder._waiters))), answers
            (delivery,) = gw_b.forwarder._watched
            assert gw_a.forwarder.tracks(delivery) and not gw_b.forwarder.tracks(delivery)
            let_go = time.monotonic()
            go.set()
            for sender in senders:
                sender.join(60)
            took = time.monotonic() - let_go
        finally:
            go.set()
            for sender in senders:
                sender.join(60)
    assert set(answers) == {"on A", "on B"}
    heard_b = answers["on B"]
    assert heard_b.headers.get("x-overstap-duplicate") == "true"
    assert took < ACK_TIMEOUT, took  # answered at once: a verdict learnt at the poll would be a 504 after 12 s
    if verdict == "bv":
        assert [a.status_code for a in answers.values()] == [200, 200], {w: a.text for w, a in answers.items()}
        assert all(b"Bv03Bericht" in a.content for a in answers.values())
    else:
        assert [a.status_code for a in answers.values()] == [500, 500], {w: a.text for w, a in answers.items()}
        assert b"StUF055" in heard_b.content and b"Fo03Bericht" in heard_b.content, heard_b.text
    assert got == [got[0]]  # sent once, by A
    assert not gw_b.forwarder._watched and delivery not in gw_b.forwarder._waiters


def test_a_settled_write_notifies_once_per_commit_and_only_where_a_sender_may_wait(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """Deliveries of a route on ``ack: durable`` (nobody waits for their verdict) settle without a notification;
    those of a route on ``ack: delivered`` with one. Watched by a LISTEN of the test's own: the durable route's
    messages are delivered first, then one of the waited-on route: exactly its one notification comes."""
    go, got = threading.Event(), []
    go.set()
    database = database_for(server, request, "sn")
    routes = {"durable": {"downstream": "zs"},
              "default": {"downstream": "zs", "ack": "delivered", "ack_timeout": ACK_TIMEOUT}}
    heard = Heard(database)
    try:
        with ServerThread(held_downstream(go, "bv", got)) as ds:
            a, _gw = start(routes, {"zs": {"url": ds.url}}, store=database, poll_interval=POLL)
            conn = psycopg.connect(database, autocommit=True)

            def delivered() -> int:
                return int(conn.execute("SELECT count(*) FROM delivery WHERE status = %s",
                                        (outbox.DELIVERED,)).fetchone()[0])

            for n in range(3):
                answer = httpx.post(a.url + "/soap/durable", content=variant(sample(), 2910 + n), timeout=30)
                assert answer.status_code == 200, answer.text
            assert wait_for(lambda: delivered() == 3)
            assert heard.count() == 0  # nobody may wait for these: no notification
            answer = httpx.post(a.url + "/soap", content=variant(sample(), 2920), timeout=30)
            assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
            assert delivered() == 4
            assert heard.count() == 1
            conn.close()
    finally:
        heard.close()


def test_the_committer_sends_one_notification_for_a_batch_of_settled_writes_and_none_for_a_rollback(
        server: str, request: pytest.FixtureRequest) -> None:
    """The real group committer on PostgreSQL, its writer held so that five announced writes share one batch: one
    notification at their COMMIT (not five). A batch whose COMMIT fails (a deferred constraint) sends none, and
    leaves none asked for the next batch, which has no announced write."""
    from gateway.pgstore.conn import PgConnection

    database = database_for(server, request, "sn")
    with psycopg.connect(database, autocommit=True) as setup:
        setup.execute("CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (p int REFERENCES p (id) "
                      "DEFERRABLE INITIALLY DEFERRED)")
    heard = Heard(database)
    gc = GroupCommitter(lambda: PgConnection(database))
    gc.start()
    try:
        def one_batch(writes: list[Any]) -> None:
            entered, release = threading.Event(), threading.Event()
            held = gc.submit(lambda _c: (entered.set(), release.wait(30)))
            assert entered.wait(30)
            for write in writes:
                gc.write_later(write, failed=lambda _e: None)
            barrier = gc.submit(lambda _c: None)
            release.set()
            held.exception(30)
            barrier.exception(30)

        one_batch([_announced(lambda _c: True) for _ in range(5)])
        assert heard.count() == 1
        one_batch([_announced(lambda _c: True), lambda c: c.execute("INSERT INTO c VALUES (7)")])  # COMMIT fails
        assert gc.failed is not None
        one_batch([lambda c: c.execute("INSERT INTO p VALUES (1)")])
        assert gc.failed is None
        assert heard.count() == 0
        one_batch([_announced(lambda _c: False)])  # not written (settled meanwhile): nothing to announce
        assert heard.count() == 0
    finally:
        gc.stop()
        heard.close()
