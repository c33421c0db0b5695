"""Whether each downstream takes a TCP connection, for ``/readyz``: one connect at a time per downstream.

``/readyz`` is open (an orchestrator asks it), and a downstream that drops connection attempts makes each connect
wait its full timeout on a thread of the event loop's shared pool. Each request made its own: 200 at once held
that pool for 34 s (session 24's review), and with it the work the sidecar itself runs there (a SOAP message's
header blocks, a chain's Fo01, the console's reads). Now requests that ask while a connect is under way wait for
that one's answer, so a flood costs one pool thread per downstream.
"""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

FRESH = 5.0
"""Seconds a connect that worked is believed (a failure is never kept: the next request tries again)."""
CONNECT_TIMEOUT = 1.0


def connects(url: str, timeout: float = CONNECT_TIMEOUT) -> bool:
    """True when the URL's host takes a TCP connection on its port within ``timeout``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


class Reachability:
    """The last connect that worked per downstream, and the one under way, shared by every request asking."""

    def __init__(self) -> None:
        self._worked: dict[str, float] = {}
        self._asking: dict[str, asyncio.Future[bool]] = {}

    async def check(self, name: str, url: str) -> bool:
        """Whether ``url`` took a connection within :data:`FRESH` seconds, else the answer of one connect now, the
        same for every request that asks while it is under way."""
        worked = self._worked.get(name)
        if worked is not None and time.monotonic() - worked < FRESH:
            return True
        asking = self._asking.get(name)
        if asking is None:
            asking = asyncio.ensure_future(asyncio.to_thread(connects, url))
            self._asking[name] = asking
            asking.add_done_callback(lambda done: self._settled(name, done))
        return await asyncio.shield(asking)

    def _settled(self, name: str, done: asyncio.Future[bool]) -> None:
        self._asking.pop(name, None)
        if not done.cancelled() and done.exception() is None and done.result():
            self._worked[name] = time.monotonic()
