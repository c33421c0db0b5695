"""A flood of ``/readyz`` while a downstream drops connection attempts (red-team review of the HTTP surface, s24).

Why: ``/readyz`` is open, and each request checked each downstream with a connect of its own on the event loop's
shared thread pool, waiting out its 1 s timeout when the downstream drops the attempt (a firewall, a host that is
gone). 200 requests at once held that pool for 34 s, and with it the sidecar's own work there: a SOAP message with
a header block, a chain's Fo01, the console's reads. Now the requests share the connect under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Iterator

import httpx
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11

from gateway.proxy.reachability import CONNECT_TIMEOUT

FLOOD = 120
"""More than the shared pool's threads (at most 32) several times over, so before the fix the last waited seconds."""


@contextlib.contextmanager
def dropping_listener() -> Iterator[socket.socket]:
    """A port whose listen queue is full: the kernel drops a new connection attempt, as a firewall does, so a
    connect waits its whole timeout (until ``listen`` is called again with room)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    queued = []
    try:
        for _ in range(4):
            client = socket.socket()
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                client.connect(("127.0.0.1", port))
            queued.append(client)
        time.sleep(0.2)
        started = time.monotonic()
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT):
            pass
        assert time.monotonic() - started >= CONNECT_TIMEOUT * 0.9, "the listener took the connection"
        yield server
    finally:
        for client in queued:
            client.close()
        server.close()


async def flood_and_post(url: str, message: bytes) -> tuple[list[httpx.Response], float, float]:
    """``FLOOD`` readiness requests at once, and a SOAP message with a header block posted among them: the answers,
    how long the message took, how long the flood took."""
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=FLOOD + 10)) as client:
        started = time.monotonic()
        probes = [asyncio.create_task(client.get(url + "/readyz")) for _ in range(FLOOD)]
        await asyncio.sleep(0.3)
        posted = time.monotonic()
        answer = await client.post(url + "/soap", content=message, headers={"Content-Type": "text/xml"})
        took = time.monotonic() - posted
        assert answer.status_code == 200, answer.text
        answers = await asyncio.gather(*probes)
        return answers, took, time.monotonic() - started


def test_readiness_requests_share_one_connect_and_leave_the_pool_to_the_messages(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds, dropping_listener() as listener:
        port = listener.getsockname()[1]
        server, _ = start({"default": {"downstream": "zs"}, "stil": {"downstream": "stil"}},
                          {"zs": ds.url + "/zs", "stil": f"http://127.0.0.1:{port}/zs"})
        header = b'<soap:Header><w:To xmlns:w="urn:w" soap:mustUnderstand="0">zs</w:To></soap:Header><soap:Body>'
        message = soap11(sample("CasusA-02-WMO301_toewijzing.xml")).replace(b"<soap:Body>", header, 1)
        answers, took, flood = asyncio.run(flood_and_post(server.url, message))
        assert took < 2.0, f"a SOAP message with a header block waited {took:.1f}s behind the readiness checks"
        # A connect of its own per request waits out CONNECT_TIMEOUT on each of the default pool's threads in turn:
        # at least FLOOD / threads timeouts (20 s on 2 cores). Shared, ~3.5 s on a quiet 2-core machine, 9 s once at
        # load 8 (a CI run beside a mutants run): the bar sits between, well below the fault's floor.
        fault_floor = FLOOD / min(32, (os.cpu_count() or 1) + 4) * CONNECT_TIMEOUT
        assert flood < max(4 * CONNECT_TIMEOUT + 2, 0.6 * fault_floor), f"{FLOOD} readiness requests took {flood:.1f}s"
        assert {r.status_code for r in answers} == {503}
        assert all(r.json()["downstreams"] == {"zs": True, "stil": False} for r in answers)
        listener.listen(16)  # room again: the next request checks anew (a failure is never kept)
        again = httpx.get(server.url + "/readyz", timeout=30)
        assert again.status_code == 200 and again.json()["downstreams"] == {"zs": True, "stil": True}
