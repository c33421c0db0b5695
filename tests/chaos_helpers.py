"""Parts of the fault-schedule soak: a downstream that misbehaves on cue, a seeded schedule, senders, the checks.

Why: the sidecar's promises (every acknowledged message delivered once, or kept with its reason; acknowledged only
once durable; per zaak in the order acknowledged) must hold on an operator's bad day, when faults come together,
not one at a time as each older test proves them. The downstream is a raw asyncio HTTP/1.1 server, so it can do
what a FastAPI app cannot: refuse connections (its listener closed), and close a connection mid-answer. Behind it
sit reference receivers (gateway/receiver), one per zaak as in tests/test_replicas.py, which record every request
that arrived on the wire, applied or not.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree
from proxy_helpers import BV03, FO03

from gateway.receiver import Receiver as ReferenceReceiver

ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
DOWNSTREAM_FAULTS = ("refuse", "503", "slow", "cut")
"""Connections refused (listener closed), HTTP 503, an answer past the sidecar's timeout, a connection closed
mid-answer. Of the slow or cut requests of a delivery not yet applied every second one is applied (the receiver did
the work, the answer got lost), the others, the first among them, are not."""
_HEADER = re.compile(rb"(?im)^([a-z0-9-]+):[ \t]*(.*?)[ \t]*\r?$")


@dataclass
class Arrival:
    """One request that arrived whole on the wire."""

    referentienummer: str
    zaak: str
    mode: str
    applied: bool
    """It changed the receiver: accepted, and not a duplicate."""
    answered: bool
    """A whole Bv03 went back in good time (mode ``ok``): the sidecar had no reason to send it again."""
    at: float


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str
    seconds: float


def schedule(seed: int, kinds: tuple[str, ...], count: int, span: float) -> list[Fault]:
    """``count`` faults (every kind at least once, then seeded picks) spread over ``span`` seconds, none overlapping."""
    rng = random.Random(seed)
    picked = list(kinds) + [rng.choice(kinds) for _ in range(max(0, count - len(kinds)))]
    rng.shuffle(picked)
    gap = span / len(picked)
    return [Fault(round(i * gap + rng.uniform(0.0, 0.3 * gap), 2), kind, round(rng.uniform(0.3, 0.6) * gap, 2))
            for i, kind in enumerate(picked)]


class FaultDownstream:
    """A zaaksysteem of reference receivers (one per zaak) behind an HTTP/1.1 server whose behaviour is set live."""

    def __init__(self, slow_seconds: float, answer_within: float) -> None:
        self.slow_seconds = slow_seconds
        self.answer_within = answer_within
        """A Bv03 written later than this after the request's head came counts as possibly lost (the sidecar may have
        timed out: its deadline runs from before it sent the head)."""
        self.mode = "ok"
        self.receivers: dict[str, ReferenceReceiver] = defaultdict(ReferenceReceiver)
        self.arrivals: list[Arrival] = []
        self.refused: list[str] = []
        self.bodies: dict[str, tuple[bytes, str | None]] = {}
        """Per referentienummer: the bytes and SOAPAction it first came with."""
        self.changed: list[str] = []
        """Referentienummers that came again with other bytes or another SOAPAction."""
        self.lock = threading.Lock()
        self.port = 0
        self._since = 0
        self._seen: Counter[str] = Counter()
        """Slow or cut requests so far of deliveries not yet applied: every second one is applied, the first not (so a
        sidecar that takes a late or cut answer for a Bv03 loses one, whatever the timing)."""
        self._applied: set[str] = set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/zs"

    def start(self) -> FaultDownstream:
        self._thread.start()
        self.set_mode("ok")
        return self

    def stop(self) -> None:
        self.set_mode("refuse")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_mode(self, mode: str) -> None:
        """``ok`` or one of :data:`DOWNSTREAM_FAULTS`; ``refuse`` closes the listener and every open connection."""
        async def change() -> None:
            if mode == "refuse" and self._server is not None:
                self._server.close()
                for writer in list(self._writers):
                    writer.transport.abort()
                self._server = None
            elif mode != "refuse" and self._server is None:
                self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port,
                                                          reuse_address=True)
                self.port = int(self._server.sockets[0].getsockname()[1])
            with self.lock:
                self.mode, self._since = mode, len(self.arrivals)

        asyncio.run_coroutine_threadsafe(change(), self._loop).result(10)

    def bitten(self) -> bool:
        """Has a request arrived under the present mode since it was set?"""
        with self.lock:
            return any(a.mode == self.mode for a in self.arrivals[self._since:])

    def applied(self) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.applied]

    def applied_refs(self) -> set[str]:
        return {a.referentienummer for a in self.applied()}

    def states(self) -> dict[str, dict[str, Any]]:
        return states(self.receivers)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                started = time.monotonic()  # the sidecar's deadline runs from about here
                headers = {k.lower(): v for k, v in _HEADER.findall(head)}
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                if not await self._answer(headers, body, writer, started):
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, headers: dict[bytes, bytes], body: bytes, writer: asyncio.StreamWriter,
                      started: float) -> bool:
        """Answer one request as the mode says; False when the connection is to be closed."""
        mode = self.mode
        ref = headers.get(b"x-overstap-referentienummer", b"?").decode()
        action = headers[b"soapaction"].decode().strip('"') if b"soapaction" in headers else None
        zaak = etree.fromstring(body).findtext(f".//{ZKN}object/{ZKN}identificatie") or "?"
        applied, answer = False, None
        if mode in ("slow", "cut") and ref not in self._applied:
            self._seen[mode] += 1
        if mode == "ok" or (mode in ("slow", "cut") and (ref in self._applied or self._seen[mode] % 2 == 0)):
            with self.lock:
                answer = self.receivers[zaak].receive(body, action)
                applied = answer.accepted and not answer.duplicate
                if applied:
                    self._applied.add(ref)
                if not answer.accepted:
                    self.refused.append(f"{ref} {answer.code} {answer.fout}")
        arrival = Arrival(ref, zaak, mode, applied, False, time.monotonic())
        with self.lock:
            self.arrivals.append(arrival)
            if self.bodies.setdefault(ref, (body, action)) != (body, action):
                self.changed.append(ref)
        if mode == "cut":  # the head of an answer, then the connection closes
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 900\r\n\r\n<soap:Env")
            await writer.drain()
            return False
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if answer is None:
            status, text = 503, b"<error>busy</error>"
        elif answer.accepted:
            status, text = 200, BV03.format(ref=ref).encode()
        else:
            status, text = 500, FO03.format(ref=ref, code=answer.code, omschrijving="refused").encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {len(text)}\r\n\r\n".encode()
                     + text)
        await writer.drain()
        arrival.answered = mode == "ok" and answer is not None and answer.accepted and \
            time.monotonic() - started < self.answer_within
        return True


@dataclass
class Sent:
    acks: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    """(zaak, position) -> the referentienummers the acknowledgement named, in the order they were acknowledged."""
    given_up: dict[tuple[int, int], str] = field(default_factory=dict)
    """Messages a sender gave up on after an attempt that may have reached the sidecar, and what it got."""
    retried: set[tuple[int, int]] = field(default_factory=set)
    early: list[str] = field(default_factory=list)
    """Referentienummers acknowledged before another connection found them in the store."""
    failures: Counter[str] = field(default_factory=Counter)
    """What the attempts that got no acknowledgement got instead."""

    def refs(self) -> set[str]:
        return {ref for refs in self.acks.values() for ref in refs}


def send(target: Callable[[random.Random], str], messages: list[list[bytes]], senders: int, pace: float,
         seed: int, gives_up: Callable[[int], bool] = lambda _: False,
         stored: Callable[[list[str]], int] | None = None) -> Sent:
    """Post every zaak's messages one after the other (a regie system's order for one client), ``senders`` zaken at
    a time, ``pace`` seconds between a sender's messages; a message without an acknowledgement is offered again.

    For a zaak ``gives_up`` names, the sender gives up on the first message whose attempt may have reached the
    sidecar and got no acknowledgement (the connection lost mid-request, an HTTP error), and goes on with the next:
    that message must be stored and delivered whole, or leave nothing behind (no delivery, no zaak ledger change).
    ``stored`` counts how many of some referentienummers another connection finds in the store: asked the moment
    each acknowledgement arrives, since a Bv03 may only follow the COMMIT."""
    sent = Sent()
    rng = random.Random(seed)

    async def run() -> None:
        zaken: asyncio.Queue[int] = asyncio.Queue()
        for z in range(len(messages)):
            zaken.put_nowait(z)
        limits = httpx.Limits(max_connections=senders * 2, max_keepalive_connections=senders)
        async with httpx.AsyncClient(timeout=30.0, limits=limits) as http:

            async def one(z: int, i: int, may_give_up: bool) -> bool:
                """Send until acknowledged; False when given up."""
                while True:
                    try:
                        response = await http.post(target(rng) + "/soap", content=messages[z][i])
                    except httpx.ConnectError:
                        failure = "ConnectError"  # never reached the sidecar: offered again
                    except httpx.HTTPError as exc:
                        failure = f"{type(exc).__name__} after the request went out"
                    else:
                        if response.status_code == 200:
                            refs = sent.acks[(z, i)] = response.headers["x-overstap-referentienummers"].split(",")
                            if stored is not None and stored(refs) != len(refs):
                                sent.early.extend(refs)
                            return True
                        failure = f"HTTP {response.status_code}"
                    sent.failures[failure] += 1
                    if may_give_up and failure != "ConnectError":
                        sent.given_up[(z, i)] = failure
                        return False
                    sent.retried.add((z, i))
                    await asyncio.sleep(0.1)

            async def sender() -> None:
                while not zaken.empty():
                    z = zaken.get_nowait()
                    may_give_up = gives_up(z)
                    for i in range(len(messages[z])):
                        if not await one(z, i, may_give_up):
                            may_give_up = False  # once per zaak
                        await asyncio.sleep(pace)

            await asyncio.gather(*(sender() for _ in range(senders)))

    asyncio.run(run())
    return sent


@dataclass
class Faults:
    """Runs a schedule in a thread of its own: ``inject(kind)`` starts a fault, ``end(kind)`` ends it."""

    plan: list[Fault]
    inject: Callable[[Fault], None]
    end: Callable[[Fault], None]
    done: list[tuple[float, float, str]] = field(default_factory=list)
    """(start, end, kind) of each fault that ran, in time.monotonic()."""
    repeat: bool = False
    """Run the plan again and again until stopped (the downstream's faults go on while the senders send)."""
    paused: threading.Event | None = None
    """While set, no new fault starts (and the plan's clock stops): set while a sidecar is down."""
    errors: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    passed: threading.Event = field(default_factory=threading.Event)
    """Set once the whole plan has run."""

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Faults:
        self.thread.start()
        return self

    def stop(self) -> None:
        """No new fault once the plan has run through once (every kind of fault ran); the one under way ends at its
        time."""
        self.passed.wait(self.plan[-1].at + self.plan[-1].seconds + 120)
        self.stopping.set()
        self.thread.join(120)

    def _run(self) -> None:
        began = time.monotonic()
        while not self.stopping.is_set():
            self._once(began)
            self.passed.set()
            if not self.repeat:
                return
            began = max(time.monotonic(), began + self.plan[-1].at + self.plan[-1].seconds)

    def _once(self, began: float) -> None:
        for fault in self.plan:
            if self.stopping.wait(max(0.0, began + fault.at - time.monotonic())):
                return
            if self.paused is not None:  # a downstream fault nobody sends into proves nothing: wait, then go on
                waited = time.monotonic()
                while self.paused.is_set() and not self.stopping.wait(0.05):
                    pass
                began += time.monotonic() - waited
            start = time.monotonic()
            try:
                self.inject(fault)
                time.sleep(fault.seconds)
            except Exception as exc:  # the test fails on it, with the fault named
                self.errors.append(f"{fault.kind}: {exc!r}")
            finally:
                try:
                    self.end(fault)
                except Exception as exc:
                    self.errors.append(f"ending {fault.kind}: {exc!r}")
            self.done.append((start, time.monotonic(), fault.kind))


def sidecar_faults_between(faults: list[Faults], start: float, end: float) -> bool:
    """Did a fault of the sidecar's side (a kill, a cut store connection) overlap ``[start, end]``?"""
    return any(s <= end and e >= start for f in faults for s, e, _ in f.done)


def check(down: FaultDownstream, sent: Sent, zaken: int, per_zaak: int, rows: list[tuple[str, str, str | None]],
          sidecar: list[Faults]) -> tuple[dict[str, int], set[tuple[int, int]]]:
    """The promises, on real values. ``rows``: (referentienummer, status, reason) of every delivery in the sidecar's
    store. Returns counts for the report, and the messages given up on that left nothing behind."""
    acked = sent.refs()
    assert len(sent.acks) + len(sent.given_up) == zaken * per_zaak
    assert not down.refused, down.refused[:5]
    assert not sent.early, f"{len(sent.early)} delivery(ies) acknowledged before they were in the store"
    with down.lock:
        arrivals = list(down.arrivals)
    zaak_of = {a.referentienummer: a.zaak for a in arrivals}
    stored = {ref for ref, _, _ in rows}
    assert acked <= stored, f"{len(acked - stored)} acknowledged delivery(ies) not in the store"
    statuses = Counter(status for _, status, _ in rows)
    assert all(reason for _, status, reason in rows if status == "dead"), "a dead letter without its reason"
    assert statuses == {"delivered": len(rows)}, (statuses, [r for r in rows if r[1] != "delivered"][:3])
    applied = Counter(a.referentienummer for a in arrivals if a.applied)
    assert {ref for ref, n in applied.items() if n != 1} == set(), "a delivery applied twice"
    assert set(applied) == stored, (f"{len(stored - set(applied))} stored delivery(ies) never applied, "
                                    f"{len(set(applied) - stored)} applied that were never stored")
    assert set(zaak_of) <= stored, "a request arrived for a message that was never stored"
    # A message given up on was stored whole (its Bv03 lost) or not at all: it is its zaak's only unacknowledged one.
    zaak_index = {zaak_of[refs[0]]: z for (z, _), refs in sent.acks.items()}
    kept: dict[int, list[str]] = defaultdict(list)
    for arrival in arrivals:
        ref = arrival.referentienummer
        if ref not in acked and ref not in kept[zaak_index[arrival.zaak]]:
            kept[zaak_index[arrival.zaak]].append(ref)
    kept = {z: refs for z, refs in kept.items() if refs}
    assert set(kept) <= {z for z, _ in sent.given_up}, "a stored delivery of no message a sender gave up on"
    last: dict[str, Arrival] = {}
    unexplained = []
    for arrival in arrivals:
        before = last.get(arrival.referentienummer)
        if before is not None and before.answered and not sidecar_faults_between(sidecar, before.at, arrival.at):
            unexplained.append(arrival.referentienummer)
        last[arrival.referentienummer] = arrival
    assert not unexplained, f"{len(unexplained)} delivery(ies) sent again after a Bv03 with no fault between"
    assert not down.changed, f"{len(down.changed)} delivery(ies) sent again with other bytes than the first time"
    order: dict[str, list[str]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.applied:
            order[arrival.zaak].append(arrival.referentienummer)
    oracle: dict[str, ReferenceReceiver] = defaultdict(ReferenceReceiver)
    for zaak, z in zaak_index.items():
        expected = [ref for i in range(per_zaak)
                    for ref in (sent.acks[(z, i)] if (z, i) in sent.acks else kept.get(z, []))]
        assert order[zaak] == expected, f"zaak {z}: applied out of the order acknowledged"
        for ref in expected:
            assert oracle[zaak].receive(*down.bodies[ref]).accepted
    assert down.states() == states(oracle), "the zaken differ from the same deliveries applied once, in order"
    assert len(states(oracle)) == zaken
    modes = Counter(a.mode for a in arrivals)
    dropped = {(z, i) for z, i in sent.given_up if z not in kept}
    counts = {"messages": len(sent.acks) + len(sent.given_up), "acknowledged": len(sent.acks),
              "given up": len(sent.given_up), "given up, stored whole": len(sent.given_up) - len(dropped),
              "deliveries": len(stored), "on the wire": len(arrivals), "sent again": len(arrivals) - len(zaak_of),
              **{f"arrived in {mode}": n for mode, n in sorted(modes.items())}}
    return counts, dropped


def states(receivers: dict[str, ReferenceReceiver]) -> dict[str, dict[str, Any]]:
    """Every zaak as the receivers hold it, without the (random) referentienummers of its messages."""
    out = {}
    for zaak, receiver in receivers.items():
        snapshot = receiver.zaak(zaak)
        if snapshot is not None:
            snapshot["berichten"] = len(snapshot["berichten"])
            out[zaak] = snapshot
    return out
