"""``ack: delivered`` re-send on a shared PostgreSQL store whose pending delivery's route this replica has no
downstream for (session 29).

Why: on SQLite such a re-send is answered at once (Fo03 StUF058 naming the route, session 28); on a shared store
another replica's configuration may deliver it, and replicas do not record their routes, so the sender waits for
``ack_timeout`` as for any delivery another replica holds. The 504 said only "delivery continues"; it now names the
delivery and its route, so the operator knows which route must be configured on some replica. Real parts: an
in-thread sidecar on a fresh PostgreSQL database, a real downstream on 127.0.0.1; the route is renamed by hand in
the store, as tests/test_renewal_waiters.py does on SQLite.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import pytest
from pg_helpers import database_for
from proxy_helpers import ServerThread, Start, sample, variant
from test_delivery_races import downstream

from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server


def test_a_resend_whose_route_no_downstream_here_on_a_shared_store_waits_and_its_504_names_the_route(
        start: Start, server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Waited ``ack_timeout`` (1 s; another replica might deliver it), then a 504 (SOAP 1.1: 500) that names the
    delivery, its route and what it takes; the message stays stored, its delivery pending."""
    database = database_for(server, request, "nods")
    got: list[tuple[str, str]] = []
    with ServerThread(downstream(lambda n: "bv", threading.Event(), got)) as ds:
        sidecar, gw = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 1}}, {},
                            store=database)
        assert gw.store.shared
        body = variant(sample(), 9912)
        first = httpx.post(sidecar.url + "/soap", content=body, timeout=30)
        assert first.status_code == 200 and "Bv03Bericht" in first.text, first.text
        conn: Any = PgConnection(database)
        try:
            with outbox.transaction(conn):
                conn.execute("UPDATE delivery SET route = 'renamed', status = 'pending' WHERE message_id = ?",
                             (int(first.headers["x-overstap-message"]),))
            ((delivery,),) = conn.execute("SELECT id FROM delivery").fetchall()
            again = httpx.post(sidecar.url + "/soap", content=body, timeout=60)
            assert again.status_code == 500 and "Bv03Bericht" not in again.text, again.text
            said = (f"not yet accepted downstream within 1s; route 'renamed' has no new downstream on this replica, "
                    f"only one configuring it delivers delivery {delivery}; a re-send is recognised")
            assert f"{said}</StUF:omschrijving>" in again.text, again.text
            assert "delivery continues" not in again.text  # here it does not, unless a replica configures the route
            assert again.headers["x-overstap-duplicate"] == "true"
            assert outbox.delivery(conn, delivery)["status"] == outbox.PENDING and len(got) == 1
        finally:
            conn.close()
