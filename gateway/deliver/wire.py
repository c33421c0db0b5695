"""The delivery POST on httpcore's connection pool, below httpx's client layers.

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


class Direct:
    """One keep-alive connection to a downstream through httpcore (see the module doc)."""

    def __init__(self, downstream: Downstream, verify: ssl.SSLContext | bool) -> None:
        context = verify if isinstance(verify, ssl.SSLContext) else None
        if verify is False and downstream.url.startswith("https://"):
            context = httpx.create_ssl_context(verify=False)
        self.pool = httpcore.AsyncConnectionPool(ssl_context=context, max_connections=1, max_keepalive_connections=1,
                                                 network_backend=AsyncioBackend())
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
