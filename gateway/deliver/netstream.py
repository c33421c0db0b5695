"""httpcore's network backend on plain asyncio protocols, for the delivery POST (gateway/deliver/wire.py).

httpcore's default backend goes through anyio: a cancel scope per read and per write, and a ``poll()``
system call per request to see whether the idle connection was closed. At hundreds of deliveries a second
that was ~13% of the sidecar's CPU (docs/performance.md). Here a read waits on a future the protocol
completes, a write is held until the request is complete (the head and the body of a POST leave in one
``send``, not two), and "is the connection readable" is a look at what the protocol already received.

Errors read as anyio's backend made them read, so the reasons stored in the outbox do not change: a
failed connect is ``ConnectError: All connection attempts failed``, a broken stream a ``ReadError`` or
``WriteError`` without text, a server that hung up a clean end of stream.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections import deque
from collections.abc import Iterable
from typing import Any

import httpcore

FLUSH_AT = 64 * 1024
"""Held request bytes past this size are written without waiting for the end of the request."""


class _Protocol(asyncio.Protocol):
    """Collects what arrives, remembers how the connection ended, and wakes the one waiting reader or writer."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.ended = False
        self.failed = False
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self._wake()

    def eof_received(self) -> bool | None:
        self.ended = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.failed = exc is not None
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None


async def _within(future: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
    """Await ``future``, raising ``error`` (empty text, as anyio's ``fail_after`` gave) after ``timeout``."""
    if timeout is None:
        await future
        return
    loop = asyncio.get_running_loop()
    timer = loop.call_later(timeout, lambda: future.done() or future.set_exception(error()))
    try:
        await future
    finally:
        timer.cancel()


class Stream(httpcore.AsyncNetworkStream):
    """One connection: reads from the protocol's chunks, writes held until the answer is read."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self.transport = transport
        self.protocol = protocol
        self.held: list[bytes] = []
        self.held_bytes = 0

    def _flush(self) -> None:
        if self.held and not self.transport.is_closing():
            self.transport.write(b"".join(self.held) if len(self.held) > 1 else self.held[0])
        self.held.clear()
        self.held_bytes = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush()
        protocol = self.protocol
        while not protocol.chunks:
            if protocol.failed:  # reset, or lost mid-answer
                raise httpcore.ReadError()
            if protocol.ended:  # the server hung up: h11 says what that means at this point
                return b""
            protocol.waiter = asyncio.get_running_loop().create_future()
            try:
                await _within(protocol.waiter, timeout, httpcore.ReadTimeout)
            finally:
                protocol.waiter = None
        chunk = protocol.chunks.popleft()
        if len(chunk) > max_bytes:
            protocol.chunks.appendleft(chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self.protocol.ended:
            raise httpcore.WriteError()
        self.held.append(buffer)
        self.held_bytes += len(buffer)
        if self.held_bytes >= FLUSH_AT:
            self._flush()
            drained = self.protocol.drained
            if drained is not None:
                await _within(drained, timeout, httpcore.WriteTimeout)
                if self.protocol.failed:
                    raise httpcore.WriteError()

    async def aclose(self) -> None:
        self.held.clear()
        self.transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(self.transport, self.protocol, ssl_context,
                                                 server_hostname=server_hostname)
        except TimeoutError:
            self.transport.close()
            raise httpcore.ConnectTimeout() from None
        except ssl.SSLError as exc:
            self.transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        except OSError as exc:  # anyio's TLS stream saw a broken stream here: no text
            self.transport.close()
            raise httpcore.ConnectError() from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError()
        return Stream(transport, self.protocol)  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # the server closed an idle connection, or sent something unasked
            return bool(self.protocol.chunks) or self.protocol.ended
        name = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername",
                "socket": "socket"}.get(info)
        return self.transport.get_extra_info(name) if name else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """Connects as anyio's ``connect_tcp`` did (IPv6 address first, then the others, in turn), on asyncio."""

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                if _is_ip(host):
                    addresses = [host]
                else:
                    try:
                        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                    except OSError as exc:
                        raise httpcore.ConnectError(str(exc)) from exc
                    v6 = [sa[0] for af, *_, sa in found if af == socket.AF_INET6]
                    addresses = list(dict.fromkeys(v6[:1] + [sa[0] for *_, sa in found]))
                failure: OSError | None = None
                for address in addresses:
                    try:
                        transport, protocol = await loop.create_connection(_Protocol, address, port, local_addr=local)
                        break
                    except OSError as exc:
                        failure = exc
                else:
                    raise httpcore.ConnectError("All connection attempts failed") from failure
        except TimeoutError:
            raise httpcore.ConnectTimeout() from None
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return Stream(transport, protocol)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("deliveries go over TCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
