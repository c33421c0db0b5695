"""HTTP limits uvicorn does not have: header size, a header deadline, and a connection cap that keeps health alive.

uvicorn (httptools) accepts headers of any size and waits forever for a request that never comes,
so a few hundred half-open connections use up file descriptors until every request fails,
``/healthz`` included. This protocol closes a connection whose headers are not complete within
``header_timeout`` or exceed ``max_header_bytes`` (431), and at ``max_connections`` makes room
for a new connection by closing the oldest one that has no request in progress: a flood of
silent sockets cannot lock out a health check. The body deadline is the app's (it reads the body).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .config import HttpLimits

log = logging.getLogger("overstap.http")
_END = b"\r\n\r\n"


def _reply(status: bytes, text: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: "
            + str(len(text)).encode() + b"\r\nconnection: close\r\n\r\n" + text)


class GuardedProtocol(HttpToolsProtocol):
    """httptools with the limits of :class:`HttpLimits` (set on a subclass by :func:`guarded_protocol`)."""

    limits = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._tail = b""
        self._in_head = True
        self._deadline: asyncio.TimerHandle | None = None

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
            idle = next((c for c in order if c is not self and not c._busy() and c._head_bytes == 0), None) or \
                next((c for c in order if c is not self and not c._busy()), None)
            if idle is None:  # every connection has a request in progress: refuse the newcomer
                transport.write(_reply(b"503 Service Unavailable", b"too many connections"))
                transport.close()
                return
            idle.transport.close()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._order().pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    # -- the request head --------------------------------------------------------------------------

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._in_head and not self.transport.is_closing():
            if self._head_bytes:
                self.transport.write(_reply(b"408 Request Timeout", b"request headers took too long"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_head:  # the next request on a kept-alive connection
            self._in_head, self._head_bytes, self._tail = True, 0, b""
            self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()


def guarded_protocol(limits: HttpLimits) -> type[GuardedProtocol]:
    """A protocol class with these limits, for ``uvicorn.Config(http=...)``."""
    return type("OverstapHttpProtocol", (GuardedProtocol,), {"limits": limits})
