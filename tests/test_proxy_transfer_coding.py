"""A request whose Transfer-Encoding names a coding besides ``chunked`` is answered 501, its body unread.

Failed before (session 24 review): ``Transfer-Encoding: gzip, chunked`` was read as chunked alone, so the gzip
bytes were parsed as XML and refused as not well-formed (and kept in quarantine as junk). RFC 9112 6.1: a server
that receives a transfer coding it does not understand should answer 501 (Not Implemented). The guard
(gateway/httpguard/protocol.py) answers it for every server behind it; on a SOAP path as the server's SOAP Fault.
Real sidecar and testbed under uvicorn on 127.0.0.1, raw sockets, real SQLite outbox.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
from pathlib import Path

import pytest
from lxml import etree
from proxy_helpers import Receiver, ServerThread, Start, metric, sample, soap11, wait_for
from test_proxy_refusal import table

from gateway.render import stuf

STUF_NS = "http://www.egem.nl/StUF/StUF0301"
WHY = ("Transfer-Encoding 'gzip, chunked' is not taken: send the body with a Content-Length or chunked alone, "
       "without other transfer codings (and the XML uncompressed)")


def chunked(body: bytes) -> bytes:
    """``body`` as one chunk and the last chunk."""
    return f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def exchange(port: int, request: bytes) -> tuple[list[str], bytes]:
    """Send ``request`` on a new connection; the answer's head lines and body (read until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        pieces: list[bytes] = []
        with contextlib.suppress(OSError):
            pieces.extend(iter(lambda: conn.recv(65536), b""))
    head, _, body = b"".join(pieces).partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def soap_post(path: str, coding: str, content_type: str = "text/xml; charset=utf-8") -> bytes:
    """A POST of a gzipped iWmo message in SOAP 1.1, under Transfer-Encoding ``coding``."""
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nTransfer-Encoding: {coding}\r\n\r\n"
            .encode() + chunked(gzip.compress(soap11(sample()))))


def fo03(body: bytes) -> tuple[str | None, str | None]:
    """The code and omschrijving of the Fo03 in a SOAP Fault."""
    fault = etree.fromstring(body)
    return fault.findtext(f".//{{{STUF_NS}}}code"), fault.findtext(f".//{{{STUF_NS}}}omschrijving")


@pytest.mark.parametrize(("fault_status", "status"), [("http", "501 Not Implemented"),
                                                      ("soap", "500 Internal Server Error")])
def test_gzip_chunked_on_a_soap_path_is_a_501_soap_fault_and_nothing_is_kept(
        start: Start, fault_status: str, status: str) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status=fault_status)
        lines, body = exchange(gw_server.port, soap_post("/soap", "gzip, chunked"))
        assert lines[0] == f"HTTP/1.1 {status}", lines
        assert "content-type: text/xml; charset=utf-8" in lines and "connection: close" in lines
        assert fo03(body) == ("StUF055", WHY)
        assert table(gw, "message") == [] and rec.received == []
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="transfer_coding") == 1
        # the same message chunked alone is taken on the same server
        plain = (b"POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n"
                 b"Connection: close\r\n\r\n" + chunked(soap11(sample())))
        lines, body = exchange(gw_server.port, plain)
        assert lines[0] == "HTTP/1.1 200 OK" and b"Bv03" in body
        assert wait_for(lambda: len(rec.received) == 1)


def test_a_soap12_request_gets_its_fault_in_soap12_and_other_paths_a_plain_501(start: Start) -> None:
    gw_server, _ = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"}, fault_status="http",
                         admin_key="k")
    lines, body = exchange(gw_server.port, soap_post("/soap/default", "GZIP , Chunked",
                                                     "application/soap+xml; charset=utf-8"))
    assert lines[0] == "HTTP/1.1 501 Not Implemented" and "content-type: application/soap+xml; charset=utf-8" in lines
    assert etree.fromstring(body).tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    assert fo03(body) == ("StUF055", WHY.replace("'gzip, chunked'", "'GZIP , Chunked'"))
    lines, body = exchange(gw_server.port, b"POST /admin/replay HTTP/1.1\r\nHost: x\r\nX-Admin-Key: k\r\n"
                                           b"Transfer-Encoding: deflate, chunked\r\n\r\n" + chunked(b'{"ids": [1]}'))
    assert lines[0] == "HTTP/1.1 501 Not Implemented" and "content-type: text/plain; charset=utf-8" in lines
    assert body == WHY.replace("'gzip, chunked'", "'deflate, chunked'").encode()


def test_the_testbed_answers_gzip_chunked_with_a_501_soap_fault(reference_dir: Path) -> None:
    """The testbed as ``overstap testbed`` serves it (``guarded_config``): the same guard, its own SOAP Fault."""
    import uvicorn

    from gateway.httpguard.limits import HttpLimits
    from gateway.receiver import Receiver as ZaakReceiver
    from gateway.testbed import create_app
    from gateway.testbed.limits import guarded_config

    server = uvicorn.Server(guarded_config(create_app(ZaakReceiver()), "127.0.0.1", 0, HttpLimits()))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started and bool(server.servers))
        port = server.servers[0].sockets[0].getsockname()[1]
        lines, body = exchange(port, soap_post("/soap", "gzip, chunked"))
        assert lines[0] == "HTTP/1.1 501 Not Implemented", lines
        assert f"content-type: {stuf.CONTENT_TYPE['soap11']}" in lines
        assert fo03(body) == ("StUF055", WHY)
    finally:
        server.should_exit = True
        thread.join(10)
