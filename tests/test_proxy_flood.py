"""The sidecar under a flood of slow senders and large bodies (review of the sidecar, finding 2).

Why: 1,000 connections that sent their headers and then a body byte every 5 s each counted as a request in progress,
so every new connection, health checks included, was refused for the 60 s of ``body_timeout``, renewably; and every
connection could hold a body up to its limit (40 GGk-sized bodies took the server from 163 to 1,126 MB). Each test
plays one part of that attack against a real gateway under uvicorn on 127.0.0.1, with the sidecar's own protocol.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
from proxy_helpers import ServerThread, Start, metric, sample, wait_for

from gateway.httpguard.bodies import FREE_BODY_BYTES
from gateway.ingest.ggk import GGK_NS, MAX_ENVELOPE_BYTES

A02 = "CasusA-02-WMO301_toewijzing.xml"
DOWN = {"zs": "http://127.0.0.1:9/zs"}
ROUTES = {"default": {"downstream": "zs"}}


def begun(port: int, length: int, first: bytes = b"<a>", path: str = "/soap") -> socket.socket:
    """A connection with a POST's headers and the first bytes of its body sent, the rest owed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: {length}\r\n\r\n".encode()
              + first)
    return s


def answer(s: socket.socket, wait: float = 10.0) -> bytes:
    """What the server sends until it closes the connection (or ``wait`` runs out)."""
    s.settimeout(wait)
    out = b""
    with contextlib.suppress(TimeoutError, ConnectionError):
        while chunk := s.recv(65536):
            out += chunk
    return out


def in_progress(server: ServerThread) -> int:
    """Connections of the guarded server with a request in progress, as its protocol counts them for its slots."""
    order = getattr(server.server.server_state, "overstap_order", {})
    try:
        return sum(1 for c in list(order) if c._busy())
    except RuntimeError:  # the loop changed the connections while we looked: look again
        return -1


@contextlib.contextmanager
def connections() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for s in opened:
            s.close()


# -- (a) a minimum body rate --------------------------------------------------------------------------------------


def status_line(s: socket.socket, wait: float = 10.0) -> bytes:
    """The first line of the server's answer (the connection may stay open after it)."""
    s.settimeout(wait)
    out = b""
    while b"\r\n" not in out and (chunk := s.recv(4096)):
        out += chunk
    return out.split(b"\r\n", 1)[0]


def test_a_body_below_the_minimum_rate_is_cut_off_and_frees_its_slot(start: Start) -> None:
    """Bodies that came fast at first and then trickle hold every connection slot: each is cut off in the first
    window that brings too little (408), long before body_timeout, and their slots are free again; a body that keeps
    the rate, however slowly it comes in all, is read to its end."""
    gw_server, _gw = start(ROUTES, DOWN, min_body_rate=1000, body_rate_window=0.5, body_timeout=60,
                           max_connections=8, probe_connections=0, require_downstream_ready=False)
    with connections() as slow:
        started = time.monotonic()
        for _ in range(8):
            slow.append(begun(gw_server.port, 100_000, b"<a>" + b"x" * 2000))  # the first window is paid for
        for _ in range(20):
            time.sleep(0.05)
            for s in slow:
                with contextlib.suppress(OSError):
                    s.send(b"x")  # then a byte every 0.05 s: 20 bytes/s, where 1,000 are owed
        cut = [answer(s, 5) for s in slow]
        # the sidecar's SOAP Fault for a body that missed its deadline (StUF058; HTTP 500 under fault_status: soap),
        # not the guard's text/plain 408
        assert all(a.startswith(b"HTTP/1.1 500 ") and b"content-type: text/xml; charset=utf-8\r\n" in a
                   and b"<StUF:code>StUF058</StUF:code>" in a and b"less than 1000 bytes a second" in a
                   for a in cut), cut[0]
        assert time.monotonic() - started < 5  # the second window, not body_timeout's 60 s
    assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="slow_body") == 8
    assert httpx.post(gw_server.url + "/soap", content=sample(A02), timeout=10).status_code == 200
    with connections() as steady:
        steady.append(begun(gw_server.port, 3 + 40 * 1000, b"<a>"))
        for _ in range(40):  # 1,000 bytes every 0.05 s over four windows: any one send pays for its window, so only
            time.sleep(0.05)  # a test thread kept off the CPU a whole window long could miss (at 2,000 bytes/s a
            steady[0].sendall(b"x" * 1000)  # quarter-second stall of a loaded host could)
        # read whole (not well-formed: a SOAP Fault, 500 by default), not cut (408 and closed)
        assert status_line(steady[0]) == b"HTTP/1.1 500 Internal Server Error"


# -- (b) connection slots kept for health checks ---------------------------------------------------------------------


def test_health_checks_are_answered_while_every_connection_has_a_request_in_progress(start: Start) -> None:
    """With every connection slot held by a request in progress (the rate check off, so nothing frees them), a
    health check, a readiness check and a scrape still get in on the probe slots; a POST there is refused (503),
    and a probe slot serves one request only, so it cannot be used as an ordinary connection after its probe."""
    gw_server, _gw = start(ROUTES, DOWN, min_body_rate=0, body_timeout=60, max_connections=8, probe_connections=2,
                           require_downstream_ready=False)
    with connections() as held:
        for _ in range(8):
            held.append(begun(gw_server.port, 100_000))
        # every slot's request in progress as the server sees it (a 0.3 s pause was not always enough under load)
        assert wait_for(lambda: in_progress(gw_server) == 8, timeout=10)
        assert httpx.get(gw_server.url + "/healthz", timeout=3).status_code == 200
        assert httpx.get(gw_server.url + "/readyz", timeout=3).status_code == 200
        assert httpx.get(gw_server.url + "/metrics", timeout=3).status_code == 200
        refused = httpx.post(gw_server.url + "/soap", content=sample(A02), timeout=3)
        assert refused.status_code == 503 and refused.text == "too many connections"
        assert refused.headers["retry-after"] == "1"
        with socket.create_connection(("127.0.0.1", gw_server.port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /soap HTTP/1.1\r\nHost: x\r\nContent-Length: 3"
                      b"\r\n\r\n<a>")
            got = answer(s, 5)
        assert got.startswith(b"HTTP/1.1 200 ") and got.count(b"HTTP/1.1 ") == 1  # the probe, then closed


# -- (c) a server-wide budget for the bytes of bodies ------------------------------------------------------------


def envelope(size: int) -> bytes:
    """A body whose root is a GGk envelope (allowed up to 25 MB), ``size`` bytes long."""
    head = f'<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="{GGK_NS}">'.encode()
    tail = b"</GGK:envelopHeenbericht-ggk_Di01>"
    return head + b"x" * (size - len(head) - len(tail)) + tail


def posted(port: int, body: bytes) -> bytes:
    """POST the whole body on a fresh connection and return the server's answer."""
    s = begun(port, len(body), b"")

    def send() -> None:
        with contextlib.suppress(OSError):
            s.sendall(body)

    try:
        sender = threading.Thread(target=send, daemon=True)
        sender.start()  # the server may answer before all is sent; it reads the rest and throws it away
        sender.join(30)
        return answer(s, 10)
    finally:
        s.close()


def test_the_bytes_held_for_bodies_are_bounded_for_the_whole_server(start: Start) -> None:
    """An envelope held open that fills a 25 MB budget to its last KB leaves no room for a 10 MB one: that one is
    answered 503 with Retry-After (StUF046 "Opslaan bericht niet mogelijk", server: offer it again; StUF049 is
    Tabel 4.1's for synchronous messages only), while an ordinary message still goes through (a
    body's first 64 KiB are not counted). Once the first sender leaves, its bytes are given back and the next one
    is taken."""
    gw_server, _gw = start(ROUTES, DOWN, max_body_buffer_bytes=MAX_ENVELOPE_BYTES, body_timeout=60, min_body_rate=0,
                           require_downstream_ready=False, fault_status="http")  # the held body is not cut for its
    # rate here; the http mode's 503 is what a load balancer acts on
    big = envelope(MAX_ENVELOPE_BYTES - 1000)
    with connections() as held:
        held.append(begun(gw_server.port, len(big), big[:-1]))  # all but its last byte: held until it ends
        budget = gw_server.server.config.app.state.body_budget
        assert wait_for(lambda: budget.held >= len(big) - 1 - FREE_BODY_BYTES, timeout=10)  # read, not a pause
        refused = posted(gw_server.port, envelope(10_000_000))
        head, _, text = refused.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ") and b"retry-after: 5" in head.lower(), head
        assert b"<StUF:code>StUF046</StUF:code>" in text and b"<StUF:plek>server</StUF:plek>" in text
        assert b"<faultcode>soap:Server</faultcode>" in text
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="busy") == 1
        assert httpx.post(gw_server.url + "/soap", content=sample(A02), timeout=10).status_code == 200
    assert wait_for(lambda: budget.held == 0, timeout=10)  # the held sender has left: its bytes given back
    taken = posted(gw_server.port, envelope(10_000_000))
    assert not taken.startswith(b"HTTP/1.1 503 "), taken[:200]
    assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="busy") == 1
