"""HTTP limits uvicorn does not have: header size and deadline, a body rate, connection slots that keep health alive.

uvicorn (httptools) accepts headers of any size, waits forever for a request that never comes and for a body that
never ends, so a few hundred slow connections hold every connection slot until every request fails, ``/healthz``
included. This protocol

* closes a connection whose headers are not complete within ``header_timeout`` or exceed ``max_header_bytes`` (431);
  so too a chunked body whose bytes other than its data (chunk framing, trailer fields) pass ``max_header_bytes``
  with no data in between: uvicorn kept every trailer field in a list and httptools buffers a field whole, so a
  body that ended its chunks and then sent trailers for the rate window's 5 s grew the server by gigabytes;
* cuts off a request whose body arrives at less than ``min_body_rate`` over a ``body_rate_window`` (408; at a SOAP
  endpoint the server's SOAP Fault, :data:`SlowBody`): a body sent a byte at a time cannot hold its slot until the
  app's ``body_timeout``;
* answers a request whose ``Transfer-Encoding`` names a coding besides ``chunked`` (``gzip, chunked``) 501 and
  closes the connection, its body unread (RFC 9112 6.1; at a SOAP endpoint the server's SOAP Fault,
  :data:`UnknownCoding`): httptools reads such a body as chunked alone, and the gzip was parsed as XML;
* at ``max_connections`` makes room for a new connection by closing the oldest one that has no request in progress;
  when every one has, the newcomer may take one of ``probe_connections`` slots kept for ``GET /healthz``, ``/readyz``
  and ``/metrics`` (anything else asked there is answered 503): a flood cannot lock out a health check.

The total body deadline and what a body may hold are the app's (it reads the body with :mod:`.bodies`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .limits import HttpLimits

log = logging.getLogger("overstap.http")
_END = b"\r\n\r\n"
SLOW_BODY = "overstap.slow_body"
"""Set (True) in the scope of a request whose body this protocol cut off for its rate: the app's read then ends in
a disconnect, which it counts as ``slow_body`` rather than as a client that left."""
_PROBE = re.compile(rb"GET /(?:healthz|readyz|metrics)(?:\?[^ \r\n]*)? HTTP/1\.[01]\r?\n")
"""The request line a probe slot serves."""
_PROBE_LINE_MAX = 256
_LATE = 1.0
"""Seconds a rate check may fire late (a busy event loop) before its window is not judged: the bytes of that window
may be waiting unread in the socket."""


def _reply(status: bytes, text: bytes, retry_after: int | None = None) -> bytes:
    extra = b"retry-after: " + str(retry_after).encode() + b"\r\n" if retry_after is not None else b""
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(text)).encode() + b"\r\n" + extra + b"connection: close\r\n\r\n" + text)


_FULL = _reply(b"503 Service Unavailable", b"too many connections", retry_after=1)
_SLOW = _reply(b"408 Request Timeout", b"request body too slow")

SlowBody = Callable[[dict[str, Any]], Response | None]
"""A server's answer to a request (its ASGI scope: method, path, headers) whose body the guard cut off for its rate:
for a SOAP endpoint the SOAP Fault its app gives a body that missed the deadline, so the client reads one kind of
answer for both; None where the plain-text 408 will do."""

UnknownCoding = Callable[[dict[str, Any], str], Response | None]
"""A server's answer to a request (its ASGI scope) whose Transfer-Encoding names a coding it does not take, given
the guard's sentence saying so: at a SOAP endpoint its SOAP Fault; None where the plain-text 501 will do."""
TAKEN_CODINGS = frozenset({"chunked"})
"""The transfer codings a request body may come in (httptools decodes chunked and nothing else)."""


def refused_coding(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Why a request whose Transfer-Encoding names a coding besides ``chunked`` is not taken (the header quoted: one
    line, at most 100 characters); None for none or ``chunked``. Every Transfer-Encoding field counts, as one list."""
    value = ", ".join(v.decode("latin-1") for k, v in headers if k.lower() == b"transfer-encoding")
    codings = {c.split(";", 1)[0].strip().lower() for c in value.split(",")} - {""}
    if codings <= TAKEN_CODINGS:
        return None
    shown = " ".join(value.split())
    shown = shown if len(shown) <= 100 else shown[:99] + "…"
    return (f"Transfer-Encoding {shown!r} is not taken: send the body with a Content-Length or chunked alone, "
            "without other transfer codings (and the XML uncompressed)")


def header(scope: dict[str, Any], name: bytes) -> str | None:
    """The first request header ``name`` (lower case) of an ASGI scope, decoded as HTTP headers are (latin-1)."""
    return next((value.decode("latin-1") for key, value in scope.get("headers", ()) if key.lower() == name), None)


def raw_response(response: Response) -> bytes:
    """``response`` as the bytes of an HTTP/1.1 answer that closes the connection (the guard writes it itself: the
    app's read of the body has been cut off under it)."""
    head = b"".join(name + b": " + value + b"\r\n" for name, value in response.raw_headers
                    if name.lower() != b"connection")
    return (f"HTTP/1.1 {response.status_code} {HTTPStatus(response.status_code).phrase}\r\n".encode() + head
            + b"connection: close\r\n\r\n" + bytes(response.body))


class GuardedProtocol(HttpToolsProtocol):
    """httptools with the limits of :class:`HttpLimits` (set on a subclass by :func:`guarded_protocol`)."""

    limits = HttpLimits()
    slow_body: SlowBody | None = None
    unknown_coding: UnknownCoding | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._tail = b""
        self._in_head = True
        self._deadline: asyncio.TimerHandle | None = None
        self._probe_only = False
        """On a probe slot: one health check or metrics request, then closed."""
        self._first: bytes | None = None
        """A probe slot's first bytes, held until its request line shows what it asks."""
        self._rate: asyncio.TimerHandle | None = None
        self._window_bytes = 0
        self._window_end = 0.0
        self._body_bytes = 0
        """Body bytes the parser has handed on, for :meth:`_count_framing`."""
        self._framing = 0
        """Bytes after the head that brought no body data since the last that did (chunk framing, trailers)."""
        self._heads = 0

    # -- connections -------------------------------------------------------------------------------

    def _order(self) -> dict[GuardedProtocol, None]:
        """Open connections of this server, oldest first (kept on uvicorn's shared server state)."""
        order = getattr(self.server_state, "overstap_order", None)
        if order is None:
            order = {}
            self.server_state.overstap_order = order  # type: ignore[attr-defined]
        return order

    def _busy(self) -> bool:
        """A request whose headers are in and whose response is not yet complete."""
        return not self._in_head and (self.cycle is None or not self.cycle.response_complete)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        order = self._order()
        order[self] = None
        if len(order) > self.limits.max_connections:
            probes = sum(1 for c in order if c._probe_only)
            if len(order) - probes > self.limits.max_connections and not self._make_room(order, probes):
                transport.write(_FULL)
                transport.close()
                return
        self._arm()

    def _make_room(self, order: dict[GuardedProtocol, None], probes: int) -> bool:
        """At the cap: close the oldest connection without a request in progress (a silent one first); when every
        one has a request in progress, take a probe slot if one is free. False: no room at all."""
        idle = next((c for c in order if c is not self and not c._busy() and c._head_bytes == 0), None) or \
            next((c for c in order if c is not self and not c._busy()), None)
        if idle is not None:
            idle.transport.close()
            return True
        if probes >= self.limits.probe_connections:  # each probe slot is serving a probe (idle ones were closed)
            return False
        self._probe_only, self._first = True, b""
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._order().pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    # -- the request head --------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        """Stop the header deadline and the body's rate check (at most one of them runs at a time)."""
        for timer in (self._deadline, self._rate):
            if timer is not None:
                timer.cancel()
        self._deadline = self._rate = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._in_head and not self.transport.is_closing():
            if self._head_bytes:
                self.transport.write(_reply(b"408 Request Timeout", b"request headers took too long"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._first is not None:  # a probe slot: only a health check or the metrics are served here
            self._first += data
            if b"\n" not in self._first and len(self._first) < _PROBE_LINE_MAX:
                return
            if _PROBE.match(self._first) is None:
                self._first, self._in_head = None, False
                self._disarm()
                self.transport.write(_FULL)
                self.transport.close()
                return
            data, self._first = self._first, None
        if self._in_head:
            room = self.limits.max_header_bytes - self._head_bytes
            if len(data) > room and _END not in self._tail + data[: max(0, room)]:
                self._in_head = False
                self._disarm()
                self.transport.write(_reply(b"431 Request Header Fields Too Large", b"request headers too large"))
                self.transport.close()
                return
            self._head_bytes += len(data)
            self._tail = data[-3:]
            super().data_received(data)
            return
        body, heads = self._body_bytes, self._heads
        super().data_received(data)
        if heads == self._heads and not self._in_head and not self.transport.is_closing():
            self._count_framing(len(data) - (self._body_bytes - body), self._body_bytes > body)

    def _count_framing(self, framing: int, progressed: bool) -> None:
        """Bound what a body sends that is not its data: chunk framing and trailer fields take no part of the rate
        window's count and the parser holds a trailer field until it ends, so past ``max_header_bytes`` without a
        byte of data in between the request is cut off (431), as a head that large is."""
        self._framing = framing if progressed else self._framing + framing
        if self._framing <= self.limits.max_header_bytes:
            return
        log.debug("request cut off: %d bytes of chunk framing or trailer fields without body data", self._framing)
        self._disarm()
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(_reply(b"431 Request Header Fields Too Large", b"request trailer fields too large"))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._in_head, self._head_bytes, self._tail = True, 0, b""
            self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        """A field of the head goes to uvicorn; a trailer field (after a chunked body) is dropped: the app has had
        the head's headers already, and uvicorn would keep each one in that list for as long as they came."""
        if self._in_head:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads += 1
        self._framing = 0
        self._disarm()
        why = refused_coding(self.headers)
        if why is not None:  # the app does not see it: answered 501 and closed, the body unread
            self._refuse_coding(why)
            return
        super().on_headers_complete()
        if self._probe_only and self.cycle is not None:
            self.cycle.keep_alive = False  # one probe, then the slot is free for the next
        if self.limits.min_body_rate:
            self._window(self.loop.time())

    def _refuse_coding(self, why: str) -> None:
        """Hand this request to a one-off app that answers 501 (the server's :data:`UnknownCoding` answer, else
        plain text) instead of the server's app; uvicorn still builds the scope and writes the answer."""
        answer = type(self).unknown_coding

        async def refusal(scope: Scope, receive: Receive, send: Send) -> None:
            response = answer(scope, why) if answer is not None else None  # type: ignore[arg-type]
            await (response or PlainTextResponse(why, 501))(scope, receive, send)

        app, self.app = self.app, refusal
        try:
            super().on_headers_complete()
        finally:
            self.app = app
        if self.cycle is not None:
            self.cycle.keep_alive = False  # the body that follows is never read: no next request on it

    # -- the request body --------------------------------------------------------------------------

    def _window(self, now: float) -> None:
        """Start a window of ``body_rate_window`` seconds in which the body must bring its share."""
        self._disarm()
        self._window_bytes, self._window_end = 0, now + self.limits.body_rate_window
        self._rate = self.loop.call_at(self._window_end, self._judge_rate)

    def _judge_rate(self) -> None:
        """A window ended with the body still coming: enough bytes (or none owed), or the request is cut off."""
        self._rate = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        owed = self.limits.min_body_rate * self.limits.body_rate_window
        # not the client's doing: the server is not reading (the app holds unread body) or was too busy to look
        if self._window_bytes >= owed or self.flow.read_paused or now - self._window_end > _LATE:
            self._window(now)
            return
        # debug: a SOAP request's cut is logged (and counted) by the app as slow_body; one line a cut, not two
        log.debug("request body cut off: %d bytes in the last %gs, below min_body_rate %d bytes/s",
                  self._window_bytes, self.limits.body_rate_window, self.limits.min_body_rate)
        if self.cycle is not None and not self.cycle.response_started:
            self.scope[SLOW_BODY] = True  # type: ignore[literal-required]
            self.transport.write(self._slow_answer())
        self.transport.close()

    def _slow_answer(self) -> bytes:
        """The answer to a body cut off for its rate: the server's own at its SOAP endpoints (:data:`SlowBody`),
        else the plain 408."""
        answer = type(self).slow_body
        response = answer(self.scope) if answer is not None else None  # type: ignore[arg-type]
        return _SLOW if response is None else raw_response(response)

    def on_body(self, body: bytes) -> None:
        self._window_bytes += len(body)
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def guarded_protocol(limits: HttpLimits, slow_body: SlowBody | None = None,
                     coding: UnknownCoding | None = None) -> type[GuardedProtocol]:
    """A protocol class with these limits (and the server's answers to a body cut off for its rate and to a transfer
    coding it does not take), for ``uvicorn.Config(http=...)``."""
    answers = {"slow_body": slow_body, "unknown_coding": coding}
    return type("OverstapHttpProtocol", (GuardedProtocol,), {"limits": limits, **{
        name: staticmethod(answer) if answer is not None else None for name, answer in answers.items()}})
