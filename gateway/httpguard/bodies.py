"""Reading a request body within its limits: size (GGk envelopes may be larger), time, and the server's budget.

The budget is why memory stays bounded: every connection may hold a body up to its limit, so without one the server
would hold up to ``max_connections`` × 25 MB (GGk) of bodies at once (review of the sidecar, finding 2; a dozen
stalled 10 MiB uploads held ~190 MB of the testbed, review of the testbed). A body's first :data:`FREE_BODY_BYTES`
are not counted against it: ordinary messages (~8 KB) are never refused for want of budget, and together they hold at
most ``max_connections`` × 64 KiB. Beyond that a body draws on the budget, shared by all requests of one app (one
event loop, so no lock), from the moment its bytes arrive until its answer is decided; one that would pass it is
refused ``busy`` (the shells answer 503 with ``Retry-After``: the sender may offer it again).

The sidecar (gateway/proxy/app.py) and the testbed (gateway/testbed/app.py) both read their bodies here, so a body is
refused for the same reasons in both; each shell words its own answer to a :class:`Body`'s ``refusal``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from gateway.ingest import ggk

from .protocol import SLOW_BODY

FREE_BODY_BYTES = 64 * 1024
"""Bytes of each body the budget does not count (uvicorn's own per-connection buffer is as large)."""


class BodyBudget:
    """The bytes of request bodies this server holds beyond their free part, and the most it may hold."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        """Hold ``size`` bytes more, if that stays within the limit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


class Holding:
    """One request's share of a :class:`BodyBudget`, given back when the request is done (``with``)."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.held = 0

    def grow(self, size: int) -> bool:
        """Hold a body of ``size`` bytes: its part beyond :data:`FREE_BODY_BYTES`. False: the budget is spent."""
        wanted = max(0, size - FREE_BODY_BYTES)
        if wanted <= self.held:
            return True
        if not self.budget.take(wanted - self.held):
            return False
        self.held = wanted
        return True

    def __enter__(self) -> Holding:
        return self

    def __exit__(self, *exc: object) -> None:
        self.budget.give(self.held)
        self.held = 0


@dataclass(frozen=True, slots=True)
class Body:
    """A body read whole (``refusal`` None), or why it was not: ``oversize`` (past ``limit``), ``busy`` (the budget
    is spent), ``slow_body`` (not complete in time, or cut off for its rate), ``disconnected``."""

    data: bytes = b""
    refusal: str | None = None
    limit: int = 0
    envelope_limit: int = 0
    """Of a body refused unread for its Content-Length, where a GGk envelope may be larger: that limit too. Unread,
    it is not known to be one, and naming the general limit alone told the sender of a 27 MB envelope that 1 MB
    was the most, though an 8 MB one had been taken."""


async def read_body(request: Request, limit: int, holding: Holding, timeout: float, *,
                    ggk_envelopes: bool = False) -> Body:
    """Read the body up to ``limit`` bytes within ``timeout`` seconds, each byte held in ``holding`` as it arrives.
    With ``ggk_envelopes`` a GGk envelope may grow to its own limit (25 MB, :func:`ggk.head_limit`). A body whose
    Content-Length is past what could be taken is refused unread; nothing beyond a refusal's point is read."""
    most = max(limit, ggk.MAX_ENVELOPE_BYTES) if ggk_envelopes else limit
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > most:
        return Body(refusal="oversize", limit=limit, envelope_limit=most if most > limit else 0)
    body = bytearray()
    allowed, decided = limit, not ggk_envelopes
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > allowed and not decided:  # past the general limit: only a GGk envelope goes on
                    found = ggk.head_limit(bytes(body[:ggk.SCAN_BYTES]), limit)  # None: its start is not in yet
                    allowed, decided = (len(body), False) if found is None else (found, True)
                if len(body) > allowed:
                    return Body(refusal="oversize", limit=allowed)
                if not holding.grow(len(body)):
                    return Body(refusal="busy")
    except TimeoutError:
        return Body(refusal="slow_body")
    except ClientDisconnect:
        return Body(refusal="slow_body" if request.scope.get(SLOW_BODY) else "disconnected")
    return Body(bytes(body))
