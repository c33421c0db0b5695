"""The SOAP POST answered in front of FastAPI (gateway/proxy/app.py, ``SidecarApp``) against FastAPI's own route:
two gateways, one with the front and one without, get the same raw requests on a socket; their raw answers
(status line, headers in order, body) must be the same byte for byte, up to the Date header and the
references and times that differ by run."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import Receiver, ServerThread, sample, soap11
from test_proxy_limits import Errors

from gateway.httpguard.protocol import guarded_protocol
from gateway.mapping import Registry
from gateway.proxy.app import SidecarApp, create_app
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway

LIMIT = 64 * 1024
KEY = b"X-API-Key: sleutel-1\r\n"
VARYING = re.compile(rb"\d{14,17}|\d{4}-\d\d-\d\dT[\d:.]+Z?|OVS[0-9A-Z]+|127\.0\.0\.1:\d+"
                     rb"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _post(path: str, body: bytes, extra: bytes = KEY, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    return (b"POST %s HTTP/1.1\r\nHost: gw\r\nContent-Type: text/xml; charset=utf-8\r\n%sContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n" % (path.encode(), extra, length)) + body


MESSAGE = soap11(sample("CasusA-02-WMO301_toewijzing.xml"))
REQUESTS = {
    "a message": _post("/soap", MESSAGE),
    "a message on a named route": _post("/soap/strict", MESSAGE, b""),
    "no key": _post("/soap", MESSAGE, b""),
    "a wrong key": _post("/soap", MESSAGE, b"X-API-Key: nee\r\n"),
    "an unknown route": _post("/soap/nope", MESSAGE),
    "a path under a route": _post("/soap/strict/x", MESSAGE, b""),
    "a trailing slash": _post("/soap/", MESSAGE),
    "another method": b"GET /soap HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    "an empty body": _post("/soap", b""),
    "not xml": _post("/soap", b"<Bericht><Header></Bericht>"),
    "declared too large": _post("/soap", b"", declared=60_000_000),
    "streamed too large": _post("/soap", b"<a>" + b"x" * (LIMIT + 10) + b"</a>"),
    "chunked": (b"POST /soap HTTP/1.1\r\nHost: gw\r\nContent-Type: text/xml\r\n" + KEY +
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n" % len(MESSAGE) + MESSAGE +
                b"\r\n0\r\n\r\n"),
    "soap 1.2": _post("/soap", MESSAGE, KEY + b"X-Ignored: 1\r\n").replace(b"text/xml", b"application/soap+xml"),
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, ServerThread, SidecarApp]]:
    receiver = Receiver()
    with ServerThread(receiver.app()) as downstream:
        servers, apps = [], []
        for front in (True, False):
            data: Path = tmp_path_factory.mktemp("front" if front else "fastapi")
            cfg = from_dict({"data_dir": str(data), "max_body_bytes": LIMIT, "watch_mappings": False,
                             "convert_processes": 0, "downstreams": {"zs": downstream.url},
                             "routes": {"default": {"downstream": "zs", "api_keys": ["sleutel-1"]},
                                        "strict": {"downstream": "zs"}}})
            app = create_app(cfg, Gateway(cfg, Registry()), front=front)
            apps.append(app)
            servers.append(ServerThread(app, http=guarded_protocol(cfg.http_limits())).start())
        try:
            yield servers[0], servers[1], apps[0]  # type: ignore[misc]
        finally:
            for server in servers:
                server.stop()


def _exchange(server: ServerThread, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return VARYING.sub(b"T", b"\r\n".join(lines) + b"\r\n\r\n" + body)


@pytest.mark.parametrize("name", list(REQUESTS))
def test_each_request_is_answered_as_fastapis_route_answers_it(pair: tuple[ServerThread, ServerThread, SidecarApp],
                                                               name: str) -> None:
    """Why: the front skips FastAPI's layers only; a sender must not see any difference in any answer."""
    front, fastapi, _ = pair
    answer = _exchange(front, REQUESTS[name])
    assert answer == _exchange(fastapi, REQUESTS[name])
    assert answer.startswith(b"HTTP/1.1 ")


def test_the_front_answers_the_soap_post_and_fails_as_starlette_did(
        pair: tuple[ServerThread, ServerThread, SidecarApp], monkeypatch: pytest.MonkeyPatch) -> None:
    """Why: the comparison above would also pass if the front never took a request. An unexpected error is
    answered with Starlette's 500, as its error middleware answered it, and still raised to uvicorn (logged)."""
    front, _fastapi, app = pair
    handler, taken = app.soap_front, []
    assert handler is not None

    async def noting(route: str | None, request: object) -> object:
        taken.append(route)
        return await handler(route, request)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "soap_front", noting)
    for name in ("a message", "a message on a named route", "another method", "a path under a route",
                 "a trailing slash"):
        _exchange(front, REQUESTS[name])
    assert taken == [None, "strict"]

    async def failing(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "soap_front", failing)
    with Errors() as errors:
        answer = _exchange(front, REQUESTS["a message"])
    assert answer.startswith(b"HTTP/1.1 500 ") and answer.endswith(b"\r\n\r\nInternal Server Error")
    assert b"content-type: text/plain; charset=utf-8" in answer
    assert any("Exception in ASGI application" in r.getMessage() for r in errors.records)

