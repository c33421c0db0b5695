"""``compliance --listen`` serves the testbed behind the same HTTP guard and body budget as ``overstap testbed``.

Why: under --listen the client is a vendor's system under test, broken or hostile. On plain uvicorn a connection
that sent its headers a line at a time held its slot for ever (slowloris) and a run could be held without end;
behind the guard (gateway/httpguard) it is cut off with 408 within the header deadline, and a body past the
testbed's limit is refused unread. Real ``listen()`` on 127.0.0.1, raw sockets: what a client sees.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
from proxy_helpers import free_port, soap11
from receiver_messages import CREEER, creeer_object, lk01

from gateway.cli.testbed import testbed as _testbed_command
from gateway.compliance.listen import listen
from gateway.compliance.run import Outcome
from gateway.testbed.limits import Limits, http_limits

HEADER_TIMEOUT = 1.0


def _until_closed(sock: socket.socket) -> bytes:
    """All the server sends until it closes the connection (a socket timeout fails the test: it never did)."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


def _one_response(sock: socket.socket) -> bytes:
    """One response with its Content-Length body (the connection may stay open)."""
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_listen_cuts_slow_headers_and_refuses_a_body_over_the_limit(tmp_path: Path, reference_dir: Path) -> None:
    port, started, result = free_port(), threading.Event(), list[Outcome]()
    http = http_limits(Limits(), header_timeout=HEADER_TIMEOUT)
    judge = threading.Thread(target=lambda: result.extend(
        listen([], "127.0.0.1", port, tmp_path / "tb", idle=0.5, started=started, http=http)), daemon=True)
    judge.start()
    assert started.wait(30)
    try:
        # slowloris: the request line and one header, then nothing: closed with 408 at the header deadline
        with socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + 5) as slow:
            slow.sendall(b"POST /soap HTTP/1.1\r\nHost: vendor\r\n")
            begun = time.monotonic()
            answer = _until_closed(slow)
            took = time.monotonic() - begun
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and answer.endswith(
            b"request headers took too long"), answer
        assert HEADER_TIMEOUT - 0.2 <= took < HEADER_TIMEOUT + 2, took
        # a body announced past the testbed's limit (10 MiB): a Fo03 StUF058 at once, not a byte of it read
        with socket.create_connection(("127.0.0.1", port), timeout=10) as big:
            big.sendall(b"POST /soap HTTP/1.1\r\nHost: vendor\r\nContent-Type: text/xml\r\nContent-Length: "
                        + str(Limits().max_body_bytes + 1).encode() + b"\r\n\r\n<soap")
            refused = _one_response(big)
        assert refused.startswith(b"HTTP/1.1 413 ") and b"StUF058" in refused, refused
        # headers over the guard's size: 431, the app never sees them
        with socket.create_connection(("127.0.0.1", port), timeout=10) as fat:
            fat.sendall(b"GET /api/zaken HTTP/1.1\r\nHost: vendor\r\nX-Pad: " + b"a" * (http.max_header_bytes + 1))
            assert _until_closed(fat).startswith(b"HTTP/1.1 431 ")
        # a message still gets through, and ends the run (idle after the first message)
        sent = httpx.post(f"http://127.0.0.1:{port}/soap", content=soap11(lk01("T", creeer_object(), "ref-1",
                                                                                 "20260102100000000")),
                          headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": CREEER}, timeout=30)
        assert sent.status_code == 200, sent.text
    finally:
        judge.join(60)
    assert not judge.is_alive()
    assert [(o.scenario.id, o.passed) for o in result] == [("no-message-refused", True)]


def test_listen_s_default_limits_are_overstap_testbed_s_defaults() -> None:
    """listen() without ``http`` takes :func:`http_limits` of the default :class:`Limits`: those must be what
    ``overstap testbed`` starts with, or --listen would be guarded differently from the testbed it claims to be."""
    defaults = {p.name: p.default for p in _testbed_command.params}
    limits = Limits(body_timeout=defaults["body_timeout"], max_body_buffer_bytes=defaults["max_body_buffer"])
    assert limits == Limits()
    assert http_limits(limits, defaults["header_timeout"], defaults["min_body_rate"],
                       defaults["max_connections"]) == http_limits(Limits())
