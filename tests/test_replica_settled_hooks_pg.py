"""A replica's settled write told through the committer's hooks, its ``_settling`` bookkeeping exact (session 29).

Why: the replica (gateway/deliver/claiming.py) learnt that a delivered/dead status was committed, or not, from a
thread-safe future and a done-callback per write, which session 28 measured as the costliest part of a settled write
on the SQLite forwarder and replaced there with ``write_later(after=, failed=)``. The replica now uses those hooks
too; its ``_settling`` (statuses queued, not yet committed: a read of the key must not take them for pending) must
lose each id once its batch is answered, on success and on failure alike, or a delivery whose status was not stored
is never sent again. Real parts: a sidecar on a real PostgreSQL database, a downstream over HTTP on 127.0.0.1, and a
real failing write: a trigger refuses the first delivered status (a sequence, which a rollback does not undo, counts).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant, wait_for
from test_delivery_races import downstream

from gateway.deliver import outbox

server = pg_helpers.server
PROMPT = 15.0
"""Seconds within which the delivery is taken up again: far below the 60 s poll that would otherwise do it."""

REFUSE_FIRST = """
CREATE SEQUENCE refusals;
CREATE FUNCTION refuse_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'delivered' AND nextval('refusals') = 1 THEN
    RAISE EXCEPTION 'refused by the test';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_first BEFORE UPDATE ON delivery FOR EACH ROW EXECUTE FUNCTION refuse_first();
"""


def test_a_replicas_settled_status_refused_by_the_store_is_sent_again_and_settling_ends_empty(
        start: Start, server: str, request: pytest.FixtureRequest) -> None:
    """The first delivered status is refused by the store (its write raises; the batch commits without it): the
    delivery is pending still, so it is taken up again at once (not at the poll), sent again under the same
    referentienummer, and its second status is stored. The sender (``ack: delivered``) hears the Bv03 of that second
    attempt; and no id is left in ``_settling`` once both batches are answered."""
    got: list[tuple[str, str]] = []
    database = database_for(server, request, "rs")
    with ServerThread(downstream(lambda n: "bv", threading.Event(), got)) as ds:
        routes = {"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 15}}
        replica, gw = start(routes, {}, store=database, poll_interval=60)
        conn: Any = psycopg.connect(database, autocommit=True)
        try:
            conn.execute(REFUSE_FIRST)
            answer = httpx.post(replica.url + "/soap", content=variant(sample(), 2930), timeout=60)
            assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
            ((delivery, status, ref),) = conn.execute("SELECT id, status, referentienummer FROM delivery").fetchall()
            assert (status, [r for r, _how in got]) == (outbox.DELIVERED, [ref, ref])  # sent twice, stored once
            assert conn.execute("SELECT last_value FROM refusals").fetchone() == (2,)
            assert wait_for(lambda: not gw.forwarder._settling, timeout=PROMPT), gw.forwarder._settling
            assert not gw.forwarder.tracks(delivery)
        finally:
            conn.close()
