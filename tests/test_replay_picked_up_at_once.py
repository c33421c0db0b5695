"""What the sidecar itself queues again goes to the chain at once, not at the forwarder's next poll.

Why: a replay bumps the outbox generation, which the forwarder reads at its next poll (``poll_interval``); on
PostgreSQL a NOTIFY wakes the replicas, on SQLite nothing did. So an operator's ``POST /admin/replay`` of a dead
letter, the renewal of an envelope the chain answered StUF019 (``replaying.renew_stale``) and a sender's re-offer
of a message whose envelope the chain refused (``replaying.renew_offered``) each waited up to ``poll_interval``.
Real parts: an in-process sidecar on a SQLite outbox with a 60 s poll, and the strict chain stand-in on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
import time

import httpx
from ggk_chain_standin import BV, DOWN, StrictChain
from proxy_helpers import Receiver, ServerThread, Start, sample, variant, wait_for
from test_ggk_exchange_property import ADMIN

from gateway.deliver import outbox

PROMPT = 10.0
"""Seconds within which a delivery queued again must reach the chain: far below the 60 s poll."""


def _sidecar(start: Start, chain: StrictChain) -> tuple[str, sqlite3.Connection]:
    """A ggk sidecar whose forwarder polls the outbox once a minute; its URL and a connection to its outbox."""
    server, gw = start({"default": {"downstream": "isd", "profile": "ggk"}},
                       {"isd": {"url": chain.url, "timeout": 10, "retry": {"max_attempts": 1}}},
                       admin_key="geheim", poll_interval=60)
    assert gw.db_path is not None
    conn = outbox.connect(gw.db_path)
    conn.row_factory = sqlite3.Row
    return server.url, conn


def _row(conn: sqlite3.Connection, message_id: str) -> sqlite3.Row:
    return conn.execute("SELECT * FROM delivery WHERE message_id = ? AND target = 'new'", (message_id,)).fetchone()


def _send(url: str, number: int) -> str:
    answer = httpx.post(url + "/soap", content=variant(sample(), number), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-overstap-message"]


def test_an_admin_replay_and_its_stuf019_renewal_reach_the_chain_at_once(start: Start) -> None:
    with StrictChain() as chain:
        url, conn = _sidecar(start, chain)
        chain.plan.extend([DOWN, BV])
        first = _send(url, 9301)  # the chain down: a dead letter after its one attempt, never answered
        assert wait_for(lambda: _row(conn, first)["status"] == outbox.DEAD)
        second = _send(url, 9302)  # a later envelope of the zender, taken
        assert wait_for(lambda: _row(conn, second)["status"] == outbox.DELIVERED)
        chain.recover()
        delivery = int(_row(conn, first)["id"])
        asked = time.monotonic()
        replayed = httpx.post(url + "/admin/replay", json={"ids": [delivery]}, headers=ADMIN, timeout=30)
        (result,) = replayed.json()["results"]
        assert result["ok"] and result["note"].startswith("queued again as stored"), result
        assert wait_for(lambda: len(chain.offers) >= 3, timeout=PROMPT), "the replay waited for the next poll"
        assert chain.offers[2].answer == "Fo03 StUF019"  # as stored: not later than the second's
        assert chain.offers[2].at - asked < PROMPT
        assert wait_for(lambda: len(chain.offers) >= 4, timeout=PROMPT), "the renewal waited for the next poll"
        renewed = chain.offers[3]
        assert (renewed.answer, renewed.identificatie) == (BV, chain.offers[0].identificatie)
        assert renewed.ref != chain.offers[0].ref
        assert wait_for(lambda: _row(conn, first)["status"] == outbox.DELIVERED)
        assert _row(conn, first)["referentienummer"] == renewed.ref
        time.sleep(0.5)  # nothing sent twice: the forwarder passed over what it had already
        assert len(chain.offers) == 4
        conn.close()


def test_a_re_offer_of_a_refused_envelope_reaches_the_chain_at_once(start: Start) -> None:
    with StrictChain() as chain:
        url, conn = _sidecar(start, chain)
        chain.plan.append("Fo03 StUF055")
        body = variant(sample(), 9311)
        first = httpx.post(url + "/soap", content=body, timeout=30).headers["x-overstap-message"]
        assert wait_for(lambda: _row(conn, first)["status"] == outbox.DEAD)
        asked = time.monotonic()
        again = httpx.post(url + "/soap", content=body, timeout=30)
        assert again.status_code == 200 and again.headers.get("x-overstap-duplicate") == "true", again.text
        assert wait_for(lambda: len(chain.offers) >= 2, timeout=PROMPT), "the re-offer waited for the next poll"
        renewed = chain.offers[1]
        assert renewed.answer == BV and renewed.ref != chain.offers[0].ref
        assert renewed.at - asked < PROMPT
        assert wait_for(lambda: _row(conn, first)["status"] == outbox.DELIVERED)
        time.sleep(0.5)
        assert len(chain.offers) == 2
        conn.close()


def test_a_quarantined_message_replayed_without_the_ledger_step_reaches_the_receiver_at_once(start: Start) -> None:
    """``ledger: none``: the quarantined replay converts in a thread and writes its deliveries in the outbox only."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {}, admin_key="geheim", poll_interval=60,
                           ledger="none")
        assert gw.stage is None and gw.db_path is not None
        conn = outbox.connect(gw.db_path)
        with outbox.transaction(conn):  # as if the mapping was broken when it came in
            qid = outbox.quarantine(conn, outbox.NewMessage("default", "translate", sample(), reason="broken"))
        asked = time.monotonic()
        answer = httpx.post(server.url + "/admin/replay", json={"ids": [qid], "quarantined": True}, headers=ADMIN,
                            timeout=30)
        assert answer.status_code == 200 and answer.json()["results"][0]["ok"], answer.text
        assert wait_for(lambda: len(rec.received) == 1, timeout=PROMPT), "the replay waited for the next poll"
        assert time.monotonic() - asked < PROMPT
        assert rec.received[0].soap_action is not None and "creeerZaak" in rec.received[0].soap_action
        conn.close()
