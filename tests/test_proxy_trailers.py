"""A chunked body's trailer fields and framing are bounded like a head (red-team review of the HTTP surface, s24).

Why: a client that ended its chunks and then sent trailer fields was read on until the body-rate window (5 s)
cut it off: uvicorn kept every field in a list and httptools buffers a field whole, so one connection grew the
sidecar from 220 MB to 2.5 GB (measured: 348 MB of trailer lines in those 5 s). A few such connections and the
server is killed for its memory, and every message in flight with it. Now the bytes of a body that are not its
data stop at ``max_header_bytes`` (431), and a trailer field never reaches the app.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any

import httpx
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for

from gateway.deliver import outbox
from gateway.httpguard.limits import HttpLimits
from gateway.httpguard.protocol import guarded_protocol
from gateway.proxy.service import Gateway

LIMIT = 8 * 1024
HEAD = b"POST /soap HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: text/xml\r\n\r\n"


def rows(gw: Gateway) -> list[int]:
    """The ids of the messages the outbox holds, accepted or quarantined."""
    conn = outbox.connect(gw.db_path)
    try:
        return [row[0] for row in conn.execute("SELECT id FROM message ORDER BY id")]
    finally:
        conn.close()


def flood(port: int, first: bytes, more: bytes, seconds: float = 3.0) -> tuple[bytes, float]:
    """Send ``first`` and then ``more`` again and again until the server answers and closes (or ``seconds`` pass);
    the answer and how long it took."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        s.sendall(first)
        started = time.monotonic()
        try:
            while time.monotonic() - started < seconds:
                s.sendall(more)
        except OSError:  # closed by the server (reset or broken pipe): its answer is in the receive buffer
            pass
        took = time.monotonic() - started
        s.settimeout(2)
        pieces: list[bytes] = []
        with contextlib.suppress(OSError):  # a reset after the answer ends the read as a close does
            pieces.extend(iter(lambda: s.recv(65536), b""))
        return b"".join(pieces), took


def test_trailer_fields_past_the_header_limit_are_cut_off_at_once(start: Start) -> None:
    """Many trailer fields, and one that never ends: each is a 431 well inside the rate window (30 s here, so only
    the new bound can have cut them), nothing is stored, and the server goes on answering."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": ds.url + "/zs"}, max_header_bytes=LIMIT,
                              body_rate_window=30, body_timeout=60)
        for first, more in ((HEAD + b"5\r\n<a/>\n\r\n0\r\n", b"X-T: " + b"a" * 20 + b"\r\n"),
                            (HEAD + b"5\r\n<a/>\n\r\n0\r\nX-Giant: ", b"a" * 4096)):
            answer, took = flood(gw_server.port, first, more * 16)
            assert answer.startswith(b"HTTP/1.1 431 ") and answer.endswith(b"request trailer fields too large")
            assert took < 2.0
        message = soap11(sample("CasusA-02-WMO301_toewijzing.xml"))
        sent = httpx.post(gw_server.url + "/soap", content=iter([message[:100], message[100:]]),
                          headers={"Content-Type": "text/xml"}, timeout=30)  # chunked: the same route still works
        assert sent.status_code == 200 and wait_for(lambda: len(rec.received) == 1)
        assert rows(gw) == [1]  # the two cut off kept nothing


def test_a_body_of_one_byte_chunks_with_a_small_trailer_is_taken(start: Start) -> None:
    """The bound counts framing since the last data, not over the whole body: a sender that writes a byte a chunk
    (five bytes of framing to each byte of data, far past 8 KB in all) is answered Bv03 as any other."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, _ = start({"default": {"downstream": "zs"}}, {"zs": ds.url + "/zs"}, max_header_bytes=LIMIT)
        message = soap11(sample("CasusA-02-WMO301_toewijzing.xml"))
        assert len(message) * 5 > 2 * LIMIT
        body = b"".join(b"1\r\n" + message[i:i + 1] + b"\r\n" for i in range(len(message)))
        with socket.create_connection(("127.0.0.1", gw_server.port), timeout=20) as s:
            s.sendall(HEAD)
            for i in range(0, len(body), 2048):  # in pieces, each a read of its own after the head's
                s.sendall(body[i:i + 2048])
                time.sleep(0.005)
            s.sendall(b"0\r\nX-Checksum: abc\r\n\r\n")
            answer = b""
            while b"</soap:Envelope>" not in answer and (chunk := s.recv(65536)):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ") and b"<StUF:berichtcode>Bv03</StUF:berichtcode>" in answer
        assert wait_for(lambda: len(rec.received) == 1)


def test_a_trailer_field_never_reaches_the_apps_headers() -> None:
    """uvicorn appended trailer fields to the list the app's scope holds as its headers, after the app had read
    them; the guard drops them (the ASGI app is the plainest one, reading the scope after the body)."""
    seen: list[list[tuple[bytes, bytes]]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        seen.append(list(scope["headers"]))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with ServerThread(app, http=guarded_protocol(HttpLimits(max_header_bytes=LIMIT))) as server, \
            socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(HEAD + b"5\r\n<a/>\n\r\n0\r\nX-Late: trailer\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 204 ")
    assert len(seen) == 1
    names = [name for name, _ in seen[0]]
    assert b"transfer-encoding" in names and b"x-late" not in names
