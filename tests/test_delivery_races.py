"""Interleavings of the forwarder's work with what changes the outbox behind it, each taken on every run.

Why: session 25's CI caught one race of the delivery side by luck (tests/test_rescan_in_flight.py); a review of the
other awaits found more places where the state the forwarder keeps in memory (its per-key queues, ``_known``,
``_depth``) could be changed by another task while a delivery was on the wire. Each test here holds the delivery (the
downstream keeps its answer) or a read (in the writer thread) until the other side has happened, with events, never
with sleeps; real sidecar under uvicorn, real SQLite, a real downstream over HTTP.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from proxy_helpers import BV03, FO03, ServerThread, Start, sample, soap11, variant, wait_for
from test_ggk_exchange_property import ADMIN
from test_ggk_fo01 import ACTION, fo01

from gateway.deliver import forwarder_reads, outbox, replay
from gateway.proxy import replaying

_REF = re.compile(rb"<(?:\w+:)?referentienummer>([^<]+)</(?:\w+:)?referentienummer>")
Plan = Callable[[int], str]
"""The n-th request (from 0) -> how the downstream answers it: ``bv``, ``fo`` (a Fo03: a dead letter), ``500``
(a retry), or ``hold`` / ``hold500`` (a Bv03 / a 500 once the test sets its event)."""


def downstream(plan: Plan, go: threading.Event, got: list[tuple[str, str]]) -> FastAPI:
    """A downstream that answers the n-th request as ``plan`` says; ``got``: (referentienummer, answer) in order."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def take(path: str, request: Request) -> Response:
        body = await request.body()
        found = _REF.search(body)
        ref = found.group(1).decode() if found else "?"
        how = plan(len(got))
        got.append((ref, how))
        if how == "fo":
            fo = FO03.format(ref=ref, code="StUF055", omschrijving="zaaktype onbekend")
            return Response(fo.encode(), status_code=500, media_type="text/xml")
        while how.startswith("hold") and not go.is_set():
            await asyncio.sleep(0.01)
        if how.endswith("500"):
            return Response(b"<error>down for maintenance</error>", status_code=500, media_type="text/xml")
        return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

    return app


def _send(url: str, message: bytes) -> None:
    answer = httpx.post(url + "/soap", content=soap11(message), timeout=30, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200, answer.text


def _waiting_sender(url: str, n: int, answers: list[httpx.Response]) -> threading.Thread:
    """A sender on ``ack: delivered`` posting message ``n`` from its own thread: it waits for the verdict."""
    sender = threading.Thread(target=lambda: answers.append(
        httpx.post(url + "/soap", content=variant(sample(), n), timeout=60)))
    sender.start()
    return sender


def _replayed_in_a_new_envelope(url: str, delivery: int) -> str:
    """An operator's replay of a GGk delivery (``POST /admin/replay``): the referentienummer of its new envelope."""
    replayed = httpx.post(url + "/admin/replay", json={"ids": [delivery]}, headers=ADMIN, timeout=30)
    (result,) = replayed.json()["results"]
    assert result["ok"] and result["note"].startswith("queued again in a new envelope "), result
    return str(result["note"].split()[6])


def _refused_in_fo01(url: str, conn: Any) -> tuple[int, str]:
    """The chain refuses the one delivery's envelope in a Fo01 (a dead letter now): (its id, that envelope)."""
    ((delivery, old),) = conn.execute("SELECT id, referentienummer FROM delivery").fetchall()
    _ref, body = fo01(old)
    refused = httpx.post(url + "/soap", content=soap11(body), timeout=30,
                         headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
    assert refused.headers.get("x-overstap-delivery") == str(delivery), refused.text
    return int(delivery), str(old)


def test_an_older_delivery_queued_behind_one_in_flight_is_sent_and_the_one_in_flight_once(start: Start) -> None:
    """A replay of a zaak's dead letter while a later message of that zaak is on the wire: the replayed delivery
    (the older id) is sorted in front of the one in flight. Settling the one in flight took the front of the key's
    queue, the replayed one: it was never sent (tracked, so no rescan took it up again) and the delivered one, still
    in the queue, was sent again, or found gone, its depth counted down twice."""
    go, got = threading.Event(), []
    plan: Plan = lambda n: {0: "fo", 1: "hold"}.get(n, "bv")  # noqa: E731
    with ServerThread(downstream(plan, go, got)) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {})
        assert gw.db_path is not None
        conn = outbox.connect(gw.db_path)

        def status(delivery_id: int) -> str:
            return str(conn.execute("SELECT status FROM delivery WHERE id = ?", (delivery_id,)).fetchone()[0])

        _send(server.url, variant(sample(), 1))  # a creeerZaak the downstream refuses: a dead letter
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM delivery WHERE status = 'dead'").fetchone()[0])
        _send(server.url, variant(sample(), 2))  # the zaak's next message: on the wire, its answer held
        assert wait_for(lambda: len(got) == 2)
        rows = conn.execute("SELECT id, order_key, referentienummer FROM delivery ORDER BY id").fetchall()
        (dead, key, dead_ref), (flying, flying_key, flying_ref) = rows
        assert key == flying_key and dead < flying
        with outbox.transaction(conn):  # an operator's replay of the dead letter, as ``overstap outbox replay``
            assert replay.replay_deliveries(conn, [dead])[0].ok
        assert wait_for(lambda: gw.forwarder.tracks(dead))  # picked up, queued in front of the one in flight
        go.set()
        assert wait_for(lambda: status(flying) == outbox.DELIVERED and status(dead) == outbox.DELIVERED), \
            (status(flying), status(dead), [(ref == flying_ref, how) for ref, how in got])
        assert wait_for(lambda: not gw.forwarder.depth().get(("default", "new"), 0))
        assert sorted(ref for ref, how in got if how != "fo") == sorted([dead_ref, flying_ref])
        conn.close()


def test_an_envelope_renewed_while_its_old_copy_is_out_is_sent_once_while_another_rescan_reads(
        start: Start, monkeypatch: Any) -> None:
    """The lead's fix of tests/test_rescan_in_flight.py against a GONE outcome: a GGk envelope is on the wire, the
    chain refuses it in a Fo01 and an operator replays it in a new envelope; the old copy's attempt fails (500) and
    its retry finds the row gone (another referentienummer). That settles while a rescan's read, which found the
    renewed row pending, is under way: that rescan passes it over (settled while it read), so the ``rescan_soon``
    that follows the GONE must take it up, and send the new envelope once."""
    go, read, got = threading.Event(), threading.Event(), []
    plan: Plan = lambda n: "hold500" if n == 0 else "bv"  # noqa: E731
    with ServerThread(downstream(plan, go, got)) as ds:
        server, gw = start({"default": {"downstream": ds.url, "profile": "ggk"}}, {}, admin_key="geheim")
        assert gw.db_path is not None
        forwarder = gw.forwarder
        answer = httpx.post(server.url + "/soap", content=variant(sample(), 1), timeout=30)
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: len(got) == 1)  # the old envelope on the wire, its answer held
        conn = outbox.connect(gw.db_path)
        delivery, old = _refused_in_fo01(server.url, conn)
        new = _replayed_in_a_new_envelope(server.url, delivery)
        real_pending, real_rescan = forwarder_reads.pending, forwarder.rescan
        passed_over: list[bool] = []

        def pending(c: Any) -> Any:  # the writer thread: a read that found the renewed row; the old copy goes now
            rows = real_pending(c)
            if not read.is_set() and any(r.id == delivery and r.referentienummer == new for r in rows):
                read.set()
                go.set()  # the old envelope's 500: its retry loads the row and finds it gone
                deadline = time.monotonic() + 20
                while forwarder.tracks(delivery) and time.monotonic() < deadline:
                    time.sleep(0.01)
            return rows

        async def rescan() -> None:
            held = not read.is_set()
            await real_rescan()
            if held and read.is_set() and not passed_over:
                passed_over.append(not forwarder.tracks(delivery))

        monkeypatch.setattr(forwarder_reads, "pending", pending)
        monkeypatch.setattr(forwarder, "rescan", rescan)
        with outbox.transaction(conn):  # a rescan now: its read finds the renewed row pending
            outbox.bump_generation(conn)
        assert wait_for(lambda: bool(passed_over))
        assert passed_over == [True]  # the rescan whose read was under way as the old copy went passed it over
        assert wait_for(lambda: outbox.delivery(conn, delivery)["status"] == outbox.DELIVERED)
        assert outbox.delivery(conn, delivery)["referentienummer"] == new and old != new
        assert got == [(old, "hold500"), (new, "bv")]
        assert wait_for(lambda: not forwarder.depth().get(("default", "new"), 0))
        conn.close()


def test_a_sender_waiting_for_the_verdict_on_an_envelope_refused_before_its_retry_hears_the_refusal(
        start: Start) -> None:
    """``ack: delivered`` on a GGk route: the envelope's attempt fails (500) while the chain refuses it in a Fo01
    (the delivery a dead letter). Its retry finds the row no longer pending under that envelope (GONE), which says
    nothing of the message: the sender was answered with it, a Bv03 for a message the chain refused. The waiter
    must get what the outbox holds now (here the Fo01's dead letter), or the outcome of the copy a rescan takes up."""
    go, got = threading.Event(), []
    answers: list[httpx.Response] = []
    plan: Plan = lambda n: "hold500" if n == 0 else "bv"  # noqa: E731
    with ServerThread(downstream(plan, go, got)) as ds:
        server, gw = start({"default": {"downstream": ds.url, "profile": "ggk", "ack": "delivered",
                                        "ack_timeout": 20}}, {})
        assert gw.db_path is not None
        sender = _waiting_sender(server.url, 2, answers)
        assert wait_for(lambda: len(got) == 1)  # on the wire, its answer held; the sender waits for the verdict
        conn = outbox.connect(gw.db_path)
        delivery, old = _refused_in_fo01(server.url, conn)
        go.set()  # the attempt's 500: its retry finds the delivery a dead letter
        sender.join(60)
        (answer,) = answers
        assert answer.status_code == 500, answer.text  # a SOAP fault: our Fo03 saying the chain refused it
        assert "Bv03" not in answer.text and "refused downstream: Fo01 IB001 (its reason is kept" in answer.text
        assert "BSN" not in answer.text  # the chain's own words (they name the client) stay in the outbox
        assert outbox.delivery(conn, delivery)["status"] == outbox.DEAD
        assert got == [(old, "hold500")]  # the dead letter was not sent again
        assert not gw.forwarder.depth().get(("default", "new"), 0)
        conn.close()


def test_a_delivery_revived_by_a_reoffer_that_also_renews_an_envelope_is_sent_once(
        start: Start, monkeypatch: Any) -> None:
    """A shadow GGk route: the chain refused the message's envelope in a Fo03, the legacy partner refused the original.
    The sender offers it again: the original's dead letter is revived in the re-send's write, the envelope is renewed
    after it (a replay, under the render lock). A rescan meanwhile (any generation bump) took the revived delivery up
    and delivered it; the re-offer then handed it to the forwarder, which no longer tracked it: sent a second time."""
    go, to_chain, to_legacy = threading.Event(), [], []
    refuse_first: Plan = lambda n: "fo" if n == 0 else "bv"  # noqa: E731
    with ServerThread(downstream(refuse_first, go, to_chain)) as chain, \
            ServerThread(downstream(refuse_first, go, to_legacy)) as legacy:
        server, gw = start({"default": {"mode": "shadow", "downstream": chain.url, "legacy_downstream": legacy.url,
                                        "profile": "ggk"}}, {})
        assert gw.db_path is not None and gw.stage is not None
        conn = outbox.connect(gw.db_path)
        message = variant(sample(), 3)
        answer = httpx.post(server.url + "/soap", content=message, timeout=30)
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM delivery WHERE status = 'dead'").fetchone()[0]
                        == 2)
        (original,) = [r[0] for r in conn.execute("SELECT id FROM delivery WHERE target = 'legacy'")]
        loop, lock, real_prepare = gw.forwarder._loop, gw.stage.lock, replaying.prepare
        assert loop is not None
        held = threading.Event()

        def prepare(c: Any, *args: Any, **kwargs: Any) -> Any:  # the writer thread: the renewal reads its dead letter
            asyncio.run_coroutine_threadsafe(lock.acquire(), loop)  # taken before the renewal's restamp asks for it
            held.set()
            return real_prepare(c, *args, **kwargs)

        monkeypatch.setattr(replaying, "prepare", prepare)
        answers: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answers.append(
            httpx.post(server.url + "/soap", content=message, timeout=60)))
        sender.start()
        assert held.wait(20)  # the original revived and committed; the renewal waits for the render lock
        with outbox.transaction(conn):  # a rescan now (a replay, a Fo01 elsewhere): it finds the revived original
            outbox.bump_generation(conn)
        assert wait_for(lambda: outbox.delivery(conn, original)["status"] == outbox.DELIVERED)
        loop.call_soon_threadsafe(lock.release)
        sender.join(60)
        assert [a.status_code for a in answers] == [200], [a.text for a in answers]
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM delivery WHERE status = 'delivered'").fetchone()[0]
                        == 2)
        assert wait_for(lambda: not any(gw.forwarder.depth().values()))
        assert [how for _ref, how in to_legacy] == ["fo", "bv"]  # the original went again once, not twice
        assert [how for _ref, how in to_chain] == ["fo", "bv"]  # and the envelope once, in a new one
        conn.close()


def test_a_rescan_whose_read_failed_is_made_again_at_the_next_poll(start: Start, monkeypatch: Any) -> None:
    """An operator's replay bumps the outbox generation; the poll that saw the bump took it as handled before its
    rescan had read anything, so when that read failed (a busy or restarting store) no later poll looked again, and
    the replayed delivery stayed pending, unsent, until the next bump or a restart."""
    failed, got = threading.Event(), []
    plan: Plan = lambda n: "fo" if n == 0 else "bv"  # noqa: E731
    with ServerThread(downstream(plan, threading.Event(), got)) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {})
        assert gw.db_path is not None
        conn = outbox.connect(gw.db_path)
        _send(server.url, variant(sample(), 4))
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM delivery WHERE status = 'dead'").fetchone()[0])
        ((delivery,),) = conn.execute("SELECT id FROM delivery").fetchall()
        real_pending = forwarder_reads.pending

        def pending(c: Any) -> Any:  # the writer thread: the first read after the replay fails, as a locked store's
            if not failed.is_set():
                failed.set()
                raise sqlite3.OperationalError("database is locked")
            return real_pending(c)

        monkeypatch.setattr(forwarder_reads, "pending", pending)
        with outbox.transaction(conn):
            assert replay.replay_deliveries(conn, [delivery])[0].ok
        assert failed.wait(20)
        assert wait_for(lambda: outbox.delivery(conn, delivery)["status"] == outbox.DELIVERED)
        assert [how for _ref, how in got] == ["fo", "bv"]
        conn.close()


def test_a_stale_copys_bv03_whose_write_was_not_stored_answers_no_waiter(start: Start) -> None:
    """``ack: delivered`` on a GGk route: the envelope is on the wire when the chain refuses it in a Fo01 and an
    operator replays it in a new envelope. The old copy's Bv03 comes back after that: its write is not stored (the
    delivery is pending under the new envelope), yet the sender was answered with it, a Bv03 for nothing the outbox
    records as delivered. Acknowledge only what is durable: the sender hears the new envelope's verdict, here the
    Fo03 the downstream refuses it with."""
    go, got = threading.Event(), []
    answers: list[httpx.Response] = []
    plan: Plan = lambda n: "hold" if n == 0 else "fo"  # noqa: E731
    with ServerThread(downstream(plan, go, got)) as ds:
        server, gw = start({"default": {"downstream": ds.url, "profile": "ggk", "ack": "delivered",
                                        "ack_timeout": 30}}, {}, admin_key="geheim")
        assert gw.db_path is not None
        sender = _waiting_sender(server.url, 5, answers)
        assert wait_for(lambda: len(got) == 1)  # on the wire, its answer held; the sender waits for the verdict
        conn = outbox.connect(gw.db_path)
        delivery, old = _refused_in_fo01(server.url, conn)
        new = _replayed_in_a_new_envelope(server.url, delivery)
        go.set()  # the old envelope's Bv03: not written, the row is pending under the new one
        sender.join(60)
        (answer,) = answers
        assert answer.status_code == 500 and "Bv03" not in answer.text, answer.text  # the new envelope's Fo03
        assert "refused downstream" in answer.text and "StUF055" in answer.text
        row = outbox.delivery(conn, delivery)
        assert (row["status"], row["referentienummer"]) == (outbox.DEAD, new)
        assert got == [(old, "hold"), (new, "fo")]
        conn.close()
