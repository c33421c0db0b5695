"""A rescan whose read of the pending rows was under way while a delivery settled must not send it again.

Why: the CI run of session 25 failed on a replay test once: a delivery was sent, settled, and sent a second time.
A rescan (an outbox generation bump: a replay, a CLI) had queued its read while the delivery was in flight; the read
found it pending, and by the time it was answered the delivery had settled and was no longer known, so the rescan
took it for a row this process did not track. Real sidecar under uvicorn, real SQLite, a real downstream over HTTP;
the read is held (in the writer thread, after it ran) until the delivery settled, so the race is taken every time.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from proxy_helpers import BV03, ServerThread, Start, sample, soap11, wait_for

from gateway.deliver import forwarder_reads, outbox

_REF = re.compile(rb"<(?:\w+:)?referentienummer>([^<]+)</(?:\w+:)?referentienummer>")


def _downstream(go: threading.Event, got: list[bytes]) -> FastAPI:
    """Takes each message, holds the answer until ``go`` is set, then answers Bv03."""
    app = FastAPI()

    @app.post("/{path:path}")
    async def take(path: str, request: Request) -> Response:
        body = await request.body()
        got.append(body)
        while not go.is_set():
            await asyncio.sleep(0.01)
        found = _REF.search(body)
        ref = found.group(1).decode() if found else "?"
        return Response(BV03.format(ref=ref).encode(), media_type="text/xml")

    return app


def test_a_delivery_settled_while_a_rescan_read_the_outbox_is_sent_once(start: Start, monkeypatch: Any) -> None:
    go, read, got = threading.Event(), threading.Event(), []
    with ServerThread(_downstream(go, got)) as ds:
        server, gw = start({"default": {"downstream": ds.url}}, {})
        assert gw.db_path is not None
        forwarder = gw.forwarder
        answer = httpx.post(server.url + "/soap", content=soap11(sample()), timeout=30,
                            headers={"Content-Type": "text/xml"})
        assert answer.status_code == 200, answer.text
        assert wait_for(lambda: len(got) == 1)  # in flight: the downstream holds its answer
        conn = outbox.connect(gw.db_path)
        (delivery,) = [r[0] for r in conn.execute("SELECT id FROM delivery WHERE status = 'pending'")]
        real_pending, real_rescan = forwarder_reads.pending, forwarder.rescan
        known_after: list[bool] = []

        def pending(c: Any) -> Any:  # the writer thread: the read ran; let the delivery settle before answering
            rows = real_pending(c)
            if not read.is_set() and any(r.id == delivery for r in rows):
                read.set()
                go.set()
                deadline = time.monotonic() + 20
                while forwarder.tracks(delivery) and time.monotonic() < deadline:
                    time.sleep(0.01)
            return rows

        async def rescan() -> None:
            await real_rescan()
            if read.is_set() and not known_after:
                known_after.append(forwarder.tracks(delivery))

        monkeypatch.setattr(forwarder_reads, "pending", pending)
        monkeypatch.setattr(forwarder, "rescan", rescan)
        with outbox.transaction(conn):  # what a replay by the CLI does: the poller rescans
            outbox.bump_generation(conn)
        assert wait_for(lambda: bool(known_after))
        assert known_after == [False]  # the stale row was passed over, not taken up again
        assert wait_for(lambda: conn.execute("SELECT status FROM delivery WHERE id = ?", (delivery,)).fetchone()[0]
                        == "delivered")
        monkeypatch.setattr(forwarder_reads, "pending", real_pending)
        with outbox.transaction(conn):  # a later rescan reads it settled and has nothing to pick up
            outbox.bump_generation(conn)
        assert wait_for(lambda: len(known_after) == 1 and not forwarder.depth().get(("default", "new"), 0))
        assert len(got) == 1
        conn.close()
