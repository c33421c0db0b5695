"""Claims and waiters of replicas on a shared PostgreSQL store, each interleaving taken on every run (session 27).

Why: session 26 left four items on the delivery side open. A claim stayed held when only the outbox writer's batch
failed (the reader, which holds the claims, fine), its delivery left pending and untracked until the next poll; two
senders watching a delivery another replica holds heard the StUF019 of an envelope renewed a moment later; a delivery
committed while ``_own`` read its key's pending rows was forgotten until the next poll. Real parts: in-thread
sidecars on a real PostgreSQL database, real downstreams over HTTP (the strict GGk chain stand-in), the test holding a
key's claim as another replica would; the interleavings are held with events, a ``poll_interval`` of 60 s keeps the
poll from covering up what must happen at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
from ggk_chain_standin import BV, StrictChain
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from test_delivery_races import Plan, downstream

from gateway.deliver import claiming, claims, outbox
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server
PROMPT = 10.0
"""Seconds within which what must happen at once happens: far below the 60 s poll that would otherwise do it."""


def _post(url: str, body: bytes, path: str = "/soap") -> httpx.Response:
    answer = httpx.post(url + path, content=body, timeout=60, headers={"Content-Type": "text/xml"})
    assert answer.status_code == 200, answer.text
    return answer


def _lid(conn: Any, delivery_id: int) -> int:
    route, target, order_key = conn.execute("SELECT route, target, order_key FROM delivery WHERE id = ?",
                                            (delivery_id,)).fetchone()
    return claims.lock_id(route, target, order_key)


def _try_hold(holder: Any, lid: int) -> bool:
    return bool(holder.execute("SELECT pg_try_advisory_lock(%s, %s)", (claims.CLAIM_CLASS, lid)).fetchone()[0])


def _status(conn: Any, delivery_id: int) -> str:
    return str(conn.execute("SELECT status FROM delivery WHERE id = ?", (delivery_id,)).fetchone()[0])


# ---------------------------------------------------------------- 1. a claim after the writer's batch failed


def test_a_delivery_whose_status_batch_failed_on_the_writer_is_taken_up_at_once_and_its_claim_let_go(
        start: Start, server: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    """The outbox writer's connection is cut while a delivery is on the wire (the reader, holding the claim, is fine):
    the batch with its delivered status fails. The delivery, pending in the store and no longer tracked, waited for
    the next poll (60 s here), and its key's claim with it; now it is taken up at once, sent again under the same
    referentienummer (at least once: the status was not recorded), recorded, and the claim let go for another."""
    go, got = threading.Event(), []
    plan: Plan = lambda n: "hold" if n == 0 else "bv"  # noqa: E731
    database = database_for(server, request, "wt")
    caplog.set_level(logging.INFO)
    with ServerThread(downstream(plan, go, got)) as ds:
        replica, gw = start({"default": {"downstream": ds.url}}, {}, store=database, poll_interval=60)
        conn: Any = PgConnection(database)
        holder = psycopg.connect(database, autocommit=True)
        try:
            _post(replica.url, variant(sample(), 1))
            assert wait_for(lambda: len(got) == 1)  # on the wire, its answer held; the claim on the reader
            ((delivery, ref),) = conn.execute("SELECT id, referentienummer FROM delivery").fetchall()
            writer = gw.committer.submit(lambda c: c.raw.info.backend_pid).result(10)
            with psycopg.connect(database, autocommit=True) as admin:
                assert admin.execute("SELECT pg_terminate_backend(%s)", (writer,)).fetchone() == (True,)
                assert wait_for(lambda: not admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                                          (writer,)).fetchone()[0])
            go.set()  # the Bv03: its status write finds the writer's connection cut
            assert wait_for(lambda: "was not stored" in caplog.text, timeout=PROMPT), caplog.text[-2000:]
            assert wait_for(lambda: _status(conn, delivery) == outbox.DELIVERED, timeout=PROMPT), \
                "the delivery waited for the next poll"
            assert got == [(ref, "hold"), (ref, "bv")]  # sent again, as the same message
            assert wait_for(lambda: _try_hold(holder, _lid(conn, delivery)), timeout=PROMPT), "the claim stayed held"
            assert not any(gw.forwarder.depth().values())
        finally:
            holder.close()
            conn.close()


def test_a_claim_whose_barrier_failed_after_its_status_was_committed_is_let_go(
        start: Start, server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key's release waits for a write that commits nothing (the barrier) behind the settled statuses. When that
    write failed (a cut writer, a failed COMMIT) the claim was kept "for the session to drop", and with the reader
    fine nothing dropped it: a second replica could take the zaak only at this one's next idle of the key, which
    need never come. Every write queued before the barrier is resolved once it is answered, failed or not: the claim
    is let go. Here the barrier's job fails once (a scripted store error), after the delivered status committed."""
    got: list[tuple[str, str]] = []
    failed = threading.Event()
    real = claiming._nothing

    def barrier(conn: Any) -> None:  # the writer thread: the first barrier fails as a cut connection's would
        if not failed.is_set():
            failed.set()
            raise psycopg.OperationalError("the connection was closed")
        return real(conn)

    monkeypatch.setattr(claiming, "_nothing", barrier)
    database = database_for(server, request, "wt")
    with ServerThread(downstream(lambda n: "bv", threading.Event(), got)) as ds:
        replica, _gw = start({"default": {"downstream": ds.url}}, {}, store=database, poll_interval=60)
        conn: Any = PgConnection(database)
        holder = psycopg.connect(database, autocommit=True)
        try:
            _post(replica.url, variant(sample(), 2))
            ((delivery,),) = conn.execute("SELECT id FROM delivery").fetchall()
            assert wait_for(lambda: _status(conn, delivery) == outbox.DELIVERED)
            assert failed.wait(PROMPT)
            assert wait_for(lambda: _try_hold(holder, _lid(conn, delivery)), timeout=PROMPT), "the claim stayed held"
            assert len(got) == 1
        finally:
            holder.close()
            conn.close()


# ---------------------------------------------------------------- 2. two senders watching a renewed delivery


def test_two_senders_watching_a_delivery_another_replica_holds_hear_its_renewed_envelope(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """``ack: delivered`` on a GGk route: two senders (the second a re-send) wait on a delivery whose key another
    replica (the test) took just before this one could, so this replica watches its status in the store. The
    holder's envelope is answered StUF019 and is stale (the zender sent a later one since): it is renewed, and the
    senders must hear the new envelope's Bv03. They heard the StUF019 of the superseded envelope, read from the store
    before the renewal (and the re-send was answered Bv03 at once: a delivery another replica held was not waited
    for)."""
    database = database_for(server, request, "wt")
    with StrictChain() as chain:
        routes = {"default": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 40},
                  "durable": {"downstream": "isd", "profile": "ggk"}}
        retry = {"max_attempts": 2, "base_delay": 0.05, "max_delay": 0.1}
        replica, gw = start(routes, {"isd": {"url": chain.url, "timeout": 5.0, "retry": retry}}, store=database,
                            poll_interval=0.1)
        conn: Any = PgConnection(database)
        holder = psycopg.connect(database, autocommit=True)
        forwarder = gw.forwarder
        asked, taken, held = threading.Event(), threading.Event(), []
        real_claim = forwarder._claim

        def claim(c: Any, ids: list[int]) -> set[int]:  # the reader thread: the first claim waits for the test's
            if not asked.is_set():
                held.extend(ids)
                asked.set()
                taken.wait(20)
            return real_claim(c, ids)

        forwarder._claim = claim  # type: ignore[method-assign]
        answers: list[httpx.Response] = []
        senders: list[threading.Thread] = []
        body = variant(sample(), 9401)
        try:
            for n in range(2):  # the second a re-send of the first: a duplicate waiting on the same delivery
                senders.append(threading.Thread(target=lambda: answers.append(httpx.post(
                    replica.url + "/soap", content=body, timeout=60))))
                senders[-1].start()
                if n == 0:
                    assert asked.wait(20)
                    (lid,) = held
                    assert _try_hold(holder, lid)  # another replica takes the key first
                    taken.set()
                assert wait_for(lambda n=n: sum(len(w) for w in forwarder._waiters.values()) == n + 1), \
                    [(a.status_code, a.text[-300:]) for a in answers]
            ((delivery, old),) = conn.execute("SELECT id, referentienummer FROM delivery").fetchall()
            assert wait_for(lambda: delivery in forwarder._watched)  # dropped: the holder delivers it
            later = _post(replica.url, variant(sample(), 9402), "/soap/durable")  # a later envelope of the zender
            (later_id,) = [r[0] for r in conn.execute("SELECT id FROM delivery WHERE message_id = ?",
                                                      (int(later.headers["x-overstap-message"]),))]
            assert wait_for(lambda: _status(conn, later_id) == outbox.DELIVERED)
            # the holder's dead letter, written as its forwarder writes one: with the renewal it owes (stale: the
            # zender's later envelope went since; schema 0009), which a replica may pay if the holder does not
            conn.execute("UPDATE delivery SET status = 'dead', http_status = 500, reply_code = ?, reason = ?,"
                         " renewal_owed = 1 WHERE id = ?", ("Fo03 StUF019", "Fo03 StUF019 tijdstip", delivery))
            assert wait_for(lambda: conn.execute("SELECT referentienummer FROM delivery WHERE id = ?",
                                                 (delivery,)).fetchone()[0] != old, timeout=PROMPT), \
                ("not renewed", [(a.status_code, a.text[-300:]) for a in answers])
            assert not answers, [a.text for a in answers]  # nobody heard the superseded envelope's StUF019
            assert holder.execute("SELECT pg_advisory_unlock(%s, %s)", (claims.CLAIM_CLASS, lid)).fetchone()[0]
            for sender in senders:
                sender.join(60)
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            assert all(b"Bv03Bericht" in a.content for a in answers)
            new = conn.execute("SELECT status, referentienummer FROM delivery WHERE id = ?", (delivery,)).fetchone()
            assert new[0] == outbox.DELIVERED and (new[1], BV) in [(o.ref, o.answer) for o in chain.offers]
            assert old not in {o.ref for o in chain.offers}
        finally:
            taken.set()
            holder.close()
            for sender in senders:
                sender.join(60)
            conn.close()


# ---------------------------------------------------------------- 3. a delivery committed during _own's read


def test_a_delivery_committed_while_own_reads_its_key_is_sent_at_once(
        start: Start, server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before each send a replica reads its key's pending rows from the store (``_own``) and makes its queue of the
    key those rows. A message of the same zaak committed and handed to the forwarder while that read was under way
    is not among them: it was forgotten, pending in the store, until the next poll (60 s here). It is kept, and sent
    right after the first, in order."""
    got: list[tuple[str, str]] = []
    read, added = threading.Event(), threading.Event()
    real = claims.pending_of

    def pending_of(conn: Any, *key: str) -> Any:  # the reader thread: the first read waits for the next message
        rows = real(conn, *key)
        if not read.is_set():
            read.set()
            added.wait(20)
        return rows

    database = database_for(server, request, "wt")
    with ServerThread(downstream(lambda n: "bv", threading.Event(), got)) as ds:
        replica, gw = start({"default": {"downstream": ds.url}}, {}, store=database, poll_interval=60)
        conn: Any = PgConnection(database)
        try:
            monkeypatch.setattr(claims, "pending_of", pending_of)
            _post(replica.url, variant(sample(), 11))
            assert read.wait(PROMPT)  # the first message's send waits for its key's read
            _post(replica.url, variant(sample(), 12))  # committed and handed over meanwhile: the same zaak
            ids = [r[0] for r in conn.execute("SELECT id FROM delivery ORDER BY id")]
            assert len(ids) == 2 and _lid(conn, ids[0]) == _lid(conn, ids[1])
            assert gw.forwarder.tracks(ids[1])
            added.set()
            assert wait_for(lambda: all(_status(conn, i) == outbox.DELIVERED for i in ids), timeout=PROMPT), \
                "the second waited for the next poll"
            refs = [r[0] for r in conn.execute("SELECT referentienummer FROM delivery ORDER BY id")]
            assert [ref for ref, _how in got] == refs  # each once, in order
            time.sleep(0.2)
            assert len(got) == 2
        finally:
            added.set()
            conn.close()
