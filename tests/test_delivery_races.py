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
import threading
from collections.abc import Callable

import httpx
from fastapi import FastAPI, Request, Response
from proxy_helpers import BV03, FO03, ServerThread, Start, sample, soap11, variant, wait_for

from gateway.deliver import outbox, replay

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

