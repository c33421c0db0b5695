"""Senders on ``ack: delivered`` whose delivery's fate is not settled the ordinary way, on one sidecar (session 28).

Why: session 27 left two of the delivery side's waiters without a test of their own. A GGk envelope the chain
answers Fo03 StUF019 whose dead letter's write fails (the writer's batch: a failing COMMIT, a full disk) is pending
still; its senders must not hear that StUF019 (it is not stored, and the envelope is renewed later), nor anything
before what they hear is durable. And a re-send whose pending delivery this configuration has no downstream for
waited to a 504 after ``ack_timeout`` saying "delivery continues", which it does not. Real parts: an in-thread
sidecar on its SQLite outbox, the strict GGk chain stand-in or a real downstream on 127.0.0.1; the write fails by a
scripted per-call fake of ``outbox.mark_dead`` (its first StUF019 only), never by timing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from ggk_chain_standin import BV, DOWN, StrictChain
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from test_delivery_races import downstream
from test_ggk_renewal_owed import sqlite_rows

from gateway.deliver import outbox

RETRY = {"max_attempts": 200, "base_delay": 0.05, "max_delay": 0.1}
STUF019 = "Fo03 StUF019"


def test_the_senders_of_a_stuf019_whose_dead_letter_was_not_stored_hear_the_renewed_envelope(
        start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The chain answers a stale envelope StUF019 and the write of its dead letter (with the renewal it owes) fails:
    nothing is stored, the delivery is pending still and taken up again; its sender is not answered meanwhile. Sent
    again under the same UUID, the chain answers StUF019 again (StUF 03.01 4.4: the answer it gave); that dead letter
    is stored and renewed, and the sender hears the new envelope's Bv03 once the outbox holds it as delivered."""
    routes = {"default": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 60},
              "durable": {"downstream": "isd", "profile": "ggk"}}
    caplog.set_level(logging.INFO)
    with StrictChain() as chain:
        _server, gw = start(routes, {"isd": {"url": chain.url, "timeout": 5.0, "retry": RETRY}}, poll_interval=60)
        row = sqlite_rows(tmp_path / "data")
        failed, answers, real = threading.Event(), [], outbox.mark_dead

        def mark_dead(conn: Any, delivery_id: int, attempts: int, http_status: int | None, reply_code: str | None,
                      *args: Any, **kwargs: Any) -> bool:  # the writer thread: the first StUF019's write fails
            if reply_code == STUF019 and not failed.is_set():
                failed.set()
                raise sqlite3.OperationalError("disk I/O error")
            return real(conn, delivery_id, attempts, http_status, reply_code, *args, **kwargs)

        monkeypatch.setattr(outbox, "mark_dead", mark_dead)
        chain.plan.append(DOWN)
        sender = threading.Thread(target=lambda: answers.append(httpx.post(
            _server.url + "/soap", content=variant(sample(), 9901), timeout=90)))
        sender.start()
        try:
            assert wait_for(lambda: len(chain.offers) >= 1)
            later = httpx.post(_server.url + "/soap/durable", content=variant(sample(), 9902), timeout=30)
            assert later.status_code == 200, later.text
            assert wait_for(lambda: row(later.headers["x-overstap-message"])["status"] == outbox.DELIVERED)
            (old,) = {o.ref for o in chain.offers if o.identificatie == "t00000009901"}
            chain.recover()
            assert failed.wait(30)
            assert wait_for(lambda: "its settled status was not stored" in caplog.text), caplog.text[-2000:]
            assert not answers, [a.text[-300:] for a in answers]  # the unstored StUF019 answered nobody
        finally:
            chain.let_go.set()
            sender.join(90)
        (answer,) = answers
        done = row(answer.headers["x-overstap-message"])  # read at once: the verdict came after its COMMIT
        assert answer.status_code == 200 and "Bv03Bericht" in answer.text, answer.text
        assert (done["status"], done["reply_code"], done["renewal_owed"]) == (outbox.DELIVERED, "Bv03", 0), done
        new = done["referentienummer"]
        mine = [(o.ref, o.answer, o.repeat) for o in chain.offers if o.identificatie == "t00000009901"
                and o.answer != DOWN]
        assert mine == [(old, STUF019, False), (old, STUF019, True), (new, BV, False)], mine
        assert not any(gw.forwarder.depth().values())


def test_a_resend_whose_pending_delivery_has_no_downstream_here_is_answered_at_once_saying_why(
        start: Start, tmp_path: Path) -> None:
    """``ack: delivered``: a re-sent message whose stored delivery is pending on a route this configuration has no
    downstream for (the route renamed, or a retour first stored on a ledger route whose mode changed since; made
    here by hand). Nothing here can deliver it, so no Bv03; before, the sender waited ``ack_timeout`` for a 504
    saying "delivery continues". Now a Fo03 at once that says why and what it takes; the message stays stored."""
    got: list[tuple[str, str]] = []
    with ServerThread(downstream(lambda n: "bv", threading.Event(), got)) as ds:
        server, gw = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 20}}, {})
        assert gw.db_path is not None
        body = variant(sample(), 9911)
        first = httpx.post(server.url + "/soap", content=body, timeout=30)
        assert first.status_code == 200 and "Bv03Bericht" in first.text, first.text
        conn = outbox.connect(gw.db_path)
        try:
            with outbox.transaction(conn):
                conn.execute("UPDATE delivery SET route = 'renamed', status = 'pending' WHERE message_id = ?",
                             (int(first.headers["x-overstap-message"]),))
            ((delivery,),) = conn.execute("SELECT id FROM delivery").fetchall()
            began = time.monotonic()
            again = httpx.post(server.url + "/soap", content=body, timeout=60)
            took = time.monotonic() - began
            print(f"\nthe re-send was answered after {took:.2f} s (ack_timeout 20 s)")
            assert again.status_code == 500 and "Bv03Bericht" not in again.text, again.text  # SOAP 1.1 fault
            assert f"its delivery {delivery} is of route 'renamed', which has no new downstream in this " \
                   "configuration" in again.text, again.text
            assert "not yet accepted downstream" not in again.text
            assert again.headers["x-overstap-duplicate"] == "true"
            assert outbox.delivery(conn, delivery)["status"] == outbox.PENDING and len(got) == 1
            assert not gw.forwarder._waiters  # nobody left waiting on it
        finally:
            conn.close()
