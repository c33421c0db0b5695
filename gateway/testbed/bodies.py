"""Reading a request body within the testbed's limits: its size, its time, and what all bodies may hold together.

Without them a client that announces 10 MiB and stalls holds its connection and what it sent for ever; a dozen held
~190 MB and were never answered (review of the testbed). The sidecar reads its bodies the same way
(gateway/proxy/bodies.py; the testbed may not import it, tests/test_layers.py: both are shells on floor 7), so the
refusals are the sidecar's: a body past the limit is StUF058 (413), one not complete in time StUF058 (408), one there
is no room for now StUF046 (503, ``Retry-After``: "Opslaan bericht niet mogelijk", offer it again). The header
deadline and the minimum body rate are the server's (``overstap testbed`` runs it on the sidecar's guarded protocol).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

FREE_BODY_BYTES = 64 * 1024
"""Bytes of each body the budget does not count: an ordinary message (~8 KB) is never refused for want of room."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one body may be and take, and what all bodies may hold at once (beyond their free part)."""

    max_body_bytes: int = 10 * 1024 * 1024
    body_timeout: float = 60.0
    max_body_buffer_bytes: int = 64 * 1024 * 1024


class Budget:
    """The bytes of bodies held beyond their free part; shared by the requests of one app (one event loop, so no
    lock). A request holds its share from its first byte until its answer is decided (``with budget.share()``):
    bodies waiting for the receiver count too."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def share(self) -> Share:
        return Share(self)


class Share:
    """One request's part of a :class:`Budget`, given back when the request is done."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.held = 0

    def grow(self, size: int) -> bool:
        """Hold a body of ``size`` bytes (its part beyond the free one); False: there is no room for it."""
        wanted = max(0, size - FREE_BODY_BYTES)
        if wanted > self.held:
            if self.budget.held + wanted - self.held > self.budget.limit:
                return False
            self.budget.held += wanted - self.held
            self.held = wanted
        return True

    def __enter__(self) -> Share:
        return self

    def __exit__(self, *exc: object) -> None:
        self.budget.held -= self.held
        self.held = 0


@dataclass(frozen=True, slots=True)
class Body:
    """A body read whole (``refusal`` None) or why not: ``oversize``, ``busy``, ``slow_body``, ``disconnected``."""

    data: bytes = b""
    refusal: str | None = None


async def read_body(request: Request, limits: Limits, share: Share) -> Body:
    """Read the body within ``limits``, each byte held in ``share`` as it arrives; nothing past a refusal is read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        return Body(refusal="oversize")  # not a byte read of what will not be taken
    body = bytearray()
    try:
        async with asyncio.timeout(limits.body_timeout):
            async for chunk in request.stream():
                body += chunk
                if len(body) > limits.max_body_bytes:
                    return Body(refusal="oversize")
                if not share.grow(len(body)):
                    return Body(refusal="busy")
    except TimeoutError:
        return Body(refusal="slow_body")
    except ClientDisconnect:
        return Body(refusal="disconnected")
    return Body(bytes(body))
