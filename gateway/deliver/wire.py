"""The delivery POST on one httpcore connection, below httpx's client layers (and below httpcore's pool).

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

import httpcore
import httpx

from .downstream import Downstream
from .netstream import AsyncioBackend

DEFAULT_HEADERS = (("Accept", "*/*"), ("Connection", "keep-alive"), ("User-Agent", f"python-httpx/{httpx.__version__}"))
"""What httpx's client sends unless the request names the header (its order, its spelling)."""
TIMEOUT_ERRORS = (httpx.TimeoutException, httpcore.TimeoutException)
TRANSPORT_ERRORS = (httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                    httpcore.ProxyError)
"""Connection failures either way: retried, like httpx's ``HTTPError``."""


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


class OneConnection(httpcore.AsyncConnectionInterface):
    """httpcore's connection pool cut to what a delivery worker uses: one HTTP/1.1 connection, one request at
    a time.

    The pool's request queue, its assignment pass and its cancel-shielded closing, and the connection layer
    above HTTP/1.1 with its own lock, ran anyio locks and scopes on every delivery for a worker that never
    waits for a connection. What they did that matters stays: the connection is opened as httpcore opens it
    (TCP with the connect timeout, then TLS with the lane's context, SNI and ALPN ``http/1.1``); one that is
    closed or was hung up on while idle is replaced before the request, and one that turns out unusable
    (``ConnectionNotAvailable``) is replaced and the request sent on the new one.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self.ssl_context = ssl_context
        self.backend = AsyncioBackend()
        self.connection: httpcore.AsyncHTTP11Connection | None = None

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        scheme = request.url.scheme.decode()
        if scheme not in ("http", "https"):  # the pool's words
            raise httpcore.UnsupportedProtocol(f"Request URL has an unsupported protocol '{scheme}://'." if scheme
                                               else "Request URL is missing an 'http://' or 'https://' protocol.")
        while True:
            connection = self.connection
            if connection is None or connection.is_closed() or connection.has_expired():
                self.connection = None
                if connection is not None:
                    await connection.aclose()
                connection = self.connection = await self._open(request)
            try:
                return await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                self.connection = None
                await connection.aclose()

    async def _open(self, request: httpcore.Request) -> httpcore.AsyncHTTP11Connection:
        """TCP, then TLS for https, as httpcore's ``AsyncHTTPConnection`` connects (without retries)."""
        origin = request.url.origin
        host = origin.host.decode("ascii")
        timeout = request.extensions.get("timeout", {}).get("connect")
        stream = await self.backend.connect_tcp(host, origin.port, timeout=timeout)
        if origin.scheme == b"https":
            context = self.ssl_context or httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            stream = await stream.start_tls(context, server_hostname=host, timeout=timeout)
        return httpcore.AsyncHTTP11Connection(origin, stream)

    async def aclose(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await connection.aclose()


class Direct:
    """One keep-alive connection to a downstream through httpcore (see the module doc)."""

    def __init__(self, downstream: Downstream, verify: ssl.SSLContext | bool) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else None
        if verify is False and downstream.url.startswith("https://"):
            context = httpx.create_ssl_context(verify=False)
        self.pool = OneConnection(context)
        self.url = httpcore.URL(downstream.url)
        t = downstream.timeout
        self.extensions = {"timeout": {"connect": downstream.connect_timeout, "read": t, "write": t, "pool": t}}

    def stream(self, payload: bytes, headers: dict[str, str | bytes]) -> object:
        """``pool.stream`` of the delivery POST: an async context manager of an ``httpcore.Response``."""
        named = {k.lower() for k in headers}
        wire = [(k, v) for k, v in DEFAULT_HEADERS if k.lower() not in named] + list(headers.items())
        return self.pool.stream("POST", self.url, headers=wire, content=payload, extensions=self.extensions)

    async def aclose(self) -> None:
        await self.pool.aclose()


def env_proxied() -> bool:
    """Does the environment name a proxy (httpx's client would route through it)? Then httpx stays."""
    return bool(urllib.request.getproxies_environment())


def new_client(downstream: Downstream, verify: ssl.SSLContext | bool) -> httpx.AsyncClient | Direct:
    """The client of one delivery worker: httpcore direct, or httpx where a proxy is configured."""
    if not env_proxied():
        return Direct(downstream, verify)
    return httpx.AsyncClient(timeout=httpx.Timeout(downstream.timeout, connect=downstream.connect_timeout),
                             limits=httpx.Limits(max_connections=1, max_keepalive_connections=1), verify=verify)
