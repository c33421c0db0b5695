"""The delivery POST on one connection of our own, below httpx's client layers and httpcore (gateway/deliver/http1.py).

httpx's client (URL and header models, cookies, redirects, hooks, its transport's request and response
copies) cost ~0.2 ms of the sidecar's CPU a delivery over what httpcore alone needs (measured,
docs/performance.md), and the forwarder uses none of it: one connection per worker, no redirects, its own
deadline. The request goes on the wire as httpx sent it (same headers, same order: Host first, then
httpx's defaults unless a header replaces them, then the delivery's, then Content-Length), with the same
TLS context, timeouts and connection limit; httpcore's exceptions carry the names httpx gave them.
Where an environment proxy is set (``HTTPS_PROXY``, ``ALL_PROXY``...), which httpx's client honours, the
lane keeps httpx.
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Any

import httpcore
import httpx
from httpcore._models import include_request_headers

from .downstream import Downstream
from .http1 import Answer, Prepared, exchange, prepare
from .netstream import AsyncioBackend, Stream

DEFAULT_HEADERS = (("Accept", "*/*"), ("Connection", "keep-alive"), ("User-Agent", f"python-httpx/{httpx.__version__}"))
"""What httpx's client sends unless the request names the header (its order, its spelling)."""
TIMEOUT_ERRORS = (httpx.TimeoutException, httpcore.TimeoutException)
TRANSPORT_ERRORS = (httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                    httpcore.ProxyError)
"""Connection failures either way: retried, like httpx's ``HTTPError``."""
PROTOCOL_ERRORS = (httpx.RemoteProtocolError, httpcore.RemoteProtocolError)
"""Those of them that say the downstream answered something that is not HTTP."""


def _text(value: bytes) -> str:
    """A header value decoded as httpx's ``Headers`` does: ASCII, else UTF-8, else Latin-1."""
    for encoding in ("ascii", "utf-8"):
        try:
            return value.decode(encoding)
        except UnicodeDecodeError:
            pass
    return value.decode("latin-1")


class Reply:
    """Status and headers of a downstream's answer, read the way the forwarder reads httpx's."""

    __slots__ = ("headers", "status_code")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = status
        self.headers = headers

    def header(self, name: str) -> str | None:
        """All values of ``name`` joined by ", " (httpx's ``headers.get``), or None."""
        wanted = name.encode("ascii")
        values = [_text(v) for k, v in self.headers if k.lower() == wanted]
        return ", ".join(values) if values else None


class OneConnection:
    """The one keep-alive connection of a delivery worker, one request at a time (no pool: nothing waits).

    It is opened as httpcore opened it (TCP with the connect timeout, then TLS with the lane's context, SNI
    and ALPN ``http/1.1``; no retries); one the downstream closed or hung up on while idle is replaced before
    the request; one that did not end its exchange cleanly (an error, a cut-off answer, ``Connection: close``,
    an HTTP/1.0 answer) is closed, as httpcore closed it.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self.ssl_context = ssl_context
        self.backend = AsyncioBackend()
        self.stream: Stream | None = None

    async def exchange(self, origin: httpcore.Origin, request: Prepared, timeouts: dict[str, Any],
                       cap: int) -> Answer:
        stream = self.stream
        if stream is None or stream.get_extra_info("is_readable"):  # hung up on, or sent something unasked
            self.stream = None
            if stream is not None:
                await stream.aclose()
            stream = await self._open(origin, timeouts.get("connect"))
        self.stream = None  # taken: back only after a clean exchange
        try:
            answer = await exchange(stream, request, timeouts, cap)
        except BaseException:
            await stream.aclose()
            raise
        if answer.keep:
            self.stream = stream
        else:
            await stream.aclose()
        return answer

    async def _open(self, origin: httpcore.Origin, timeout: float | None) -> Stream:
        """TCP, then TLS for https, as httpcore's ``AsyncHTTPConnection`` connects (without retries)."""
        host = origin.host.decode("ascii")
        stream = await self.backend.connect_tcp(host, origin.port, timeout=timeout)
        if origin.scheme == b"https":
            context = self.ssl_context or httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            stream = await stream.start_tls(context, server_hostname=host, timeout=timeout)
        return stream  # type: ignore[return-value]

    async def aclose(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stream.aclose()


class Direct:
    """One keep-alive connection to a downstream, the POST written and its answer read by ``http1``."""

    def __init__(self, downstream: Downstream, verify: ssl.SSLContext | bool) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else None
        if verify is False and downstream.url.startswith("https://"):
            context = httpx.create_ssl_context(verify=False)
        self.pool = OneConnection(context)
        self.url = httpcore.URL(downstream.url)
        self.host = _host_header(self.url)
        t = downstream.timeout
        self.timeouts = {"connect": downstream.connect_timeout, "read": t, "write": t, "pool": t}

    async def exchange(self, payload: bytes, headers: dict[str, str | bytes], cap: int) -> Answer:
        """POST ``payload``; the answer with its body up to ``cap`` bytes."""
        named = {k.lower() for k in headers}
        wire = [(k, v) for k, v in DEFAULT_HEADERS if k.lower() not in named] + list(headers.items())
        request = prepare(self.url, self.host, wire, payload)
        scheme = self.url.scheme.decode()
        if scheme not in ("http", "https"):  # the pool's words
            raise httpcore.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'." if scheme
                                               else "Request URL is missing an 'http://' or 'https://' protocol.")
        return await self.pool.exchange(self.url.origin, request, self.timeouts, cap)

    async def aclose(self) -> None:
        await self.pool.aclose()


def _host_header(url: httpcore.URL) -> bytes:
    """The Host value httpcore adds: the host, with the port unless it is the scheme's default."""
    return next(v for k, v in include_request_headers([], url=url, content=None) if k == b"Host")


def env_proxied() -> bool:
    """Does the environment name a proxy (httpx's client would route through it)? Then httpx stays."""
    return bool(urllib.request.getproxies_environment())


def new_client(downstream: Downstream, verify: ssl.SSLContext | bool) -> httpx.AsyncClient | Direct:
    """The client of one delivery worker: httpcore direct, or httpx where a proxy is configured."""
    if not env_proxied():
        return Direct(downstream, verify)
    return httpx.AsyncClient(timeout=httpx.Timeout(downstream.timeout, connect=downstream.connect_timeout),
                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), verify=verify)
