"""A downstream's lane (its clients, its ready keys and its circuit breaker) and the per-key queues the
forwarder hands it: what decides *when* a delivery may be tried, apart from how it is sent."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque

import httpx

from .downstream import Downstream
from .outbox import Queued
from .outcome import GONE, Outcome
from .wire import Direct, new_client

log = logging.getLogger("overstap.forwarder")


class KeyQueue:
    """The deliveries of one (route, target, order key), oldest first; ``scheduled`` while one is handled."""

    __slots__ = ("items", "key", "lane", "scheduled")

    def __init__(self, key: tuple[str, str, str], lane: Lane) -> None:
        self.key = key
        self.lane = lane
        self.items: deque[Queued] = deque()
        self.scheduled = False

    def insert(self, item: Queued) -> None:
        if not self.items or self.items[-1].id < item.id:
            self.items.append(item)
            return
        ordered = sorted([*self.items, item], key=lambda q: q.id)
        self.items = deque(ordered)


Client = httpx.AsyncClient | Direct

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class Lane:
    """One downstream: its HTTP client, its ready keys, its workers and its circuit breaker."""

    def __init__(self, downstream: Downstream) -> None:
        self.downstream = downstream
        self.ready: asyncio.Queue[KeyQueue | None] = asyncio.Queue()
        self.parked: deque[KeyQueue] = deque()
        self.state = CLOSED
        self.consecutive = 0
        self.opens = 0
        self.until = 0.0
        self.inflight = 0
        self.last_ok: float | None = None
        self.last_error: str | None = None
        verify = tls_context(downstream)
        self.clients = [new_client(downstream, verify) for _ in range(max(1, downstream.concurrency))]
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, key: KeyQueue) -> None:
        self.ready.put_nowait(key)

    def admit(self, key: KeyQueue) -> bool:
        """May this key be attempted now? While the circuit is open it parks instead."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN and asyncio.get_running_loop().time() >= self.until:
            self.state = HALF_OPEN
            return True
        self.parked.append(key)
        return False

    def settle(self, outcome: Outcome) -> None:
        if outcome.result == GONE:
            if self.state == HALF_OPEN:  # the probe had nothing to send: let the next one probe
                self.state, self.until = OPEN, 0.0
                self._probe()
            return
        if not outcome.transport_failure:
            self.consecutive = 0
            self.last_ok = time.time()
            if self.state != CLOSED:
                log.info("downstream %s answers again; %d waiting key(s) released", self.downstream.name,
                         len(self.parked))
                self.state, self.opens = CLOSED, 0
                while self.parked:
                    self.ready.put_nowait(self.parked.popleft())
            return
        self.consecutive += 1
        self.last_error = outcome.reason
        if self.state == OPEN or (self.state == CLOSED and self.consecutive < self.downstream.circuit_threshold):
            return
        self.state = OPEN
        self.opens += 1
        wait = self.downstream.retry.delay(self.opens)
        loop = asyncio.get_running_loop()
        self.until = loop.time() + wait
        log.warning("downstream %s keeps failing (%s); probing again in %.1fs", self.downstream.name,
                    outcome.summary, wait)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(wait, self._probe)

    def _probe(self) -> None:
        """The wait is over: the next key admitted is the probe (one parked key is sent to be it)."""
        self._timer = None
        if self.state == OPEN:
            self.until = 0.0
            if self.parked:
                self.ready.put_nowait(self.parked.popleft())

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for client in self.clients:
            await client.aclose()


def tls_context(downstream: Downstream) -> ssl.SSLContext | bool:
    """One TLS context for all of a lane's clients (plain http needs none: no CA bundle to load)."""
    if downstream.verify is False or downstream.url.startswith("http://"):
        return False
    ctx = ssl.create_default_context(cafile=downstream.verify if isinstance(downstream.verify, str) else None)
    if downstream.client_cert:
        ctx.load_cert_chain(downstream.client_cert, downstream.client_key)
    return ctx
