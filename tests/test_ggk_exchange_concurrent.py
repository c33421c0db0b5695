"""Property: the GGk exchange of tests/test_ggk_exchange_property.py with the way back, ``ack: delivered`` and
several senders at once.

Why: that property sends one vendor message at a time on an ``ack: durable`` route. The way back of a GGk route
(docs/processes.md 4, docs/ggk-profile.md 2.1) is the aanbieder's retour: a 302 to a 301 the chain took comes in
on a route of its own that shares the zaak ledger and goes to the chain in a Du01 whose crossRefnummer is the Di01
the chain holds for that 301 (after a replay, the new envelope) and whose ontvanger is the 301's zender. On a route
with ``ack: delivered`` the sender's answer is the chain's verdict, so it may come only after the chain answered.
Senders at once put envelopes of one zender in flight together, where the chain still wants each UUID once and
tijdstipBericht strictly rising per zender (StUF019).

The events: a wave of two to four senders posting at once (a 301 of one of two zenders, or the 302 to a message
the chain holds as delivered; on an ``ack: durable`` or an ``ack: delivered`` route; the chain's answer to each
envelope drawn and tied to its vendor message, as they reach it in any order); the chain's Fo01 about a Di01 it
took; an operator's replay (``POST /admin/replay``). Each sender's answer is checked as it arrives, the rest after
the wave settled and at the end (:func:`check_flows`).
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from depth import depth
from ggk_chain_standin import BV, DOWN, LOST, NOT_STORED, SLOW, Offer, StrictChain
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from proxy_helpers import sample, variant
from test_ggk_exchange_property import (
    ANSWERS,
    CLIENTS,
    FO01_CODES,
    INDEX,
    ZENDERS,
    Exchange,
    Message,
    Refuse,
    Replay,
    Sidecar,
    check_chain_rules,
    check_invariants,
    serving,
    verdict,
)
from test_ggk_shells import RETOUR

from gateway.deliver import outbox

AANBIEDER = "98025566"  # the 301's Ontvanger: the 302's sender, the Du01's zender
RETOUR_ANSWERS = (BV, BV, LOST, SLOW, "Fo03 StUF055")
ROUTES = {"default": {"downstream": "isd", "profile": "ggk"},
          "delivered": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 30},
          "retour": {"downstream": "isd", "profile": "ggk"},
          "retour-delivered": {"downstream": "isd", "profile": "ggk", "ack": "delivered", "ack_timeout": 30}}
_CODE = re.compile(rb"<StUF:code>([^<]+)</StUF:code>")
numbers = itertools.count(1)


@dataclass(frozen=True)
class Send:
    """One sender's message in a wave: a 301 of zender ``zender`` (``retour_of`` None) or the 302 to the
    ``retour_of``-th message the chain holds as delivered; ``delivered``: on the ``ack: delivered`` route; the chain
    answers its envelope ``answer``."""

    zender: int
    client: int
    answer: str
    delivered: bool
    retour_of: int | None = None


@dataclass(frozen=True)
class Wave:
    """Senders posting at once, each its own message."""

    sends: tuple[Send, ...]


Event = Wave | Refuse | Replay
HEEN = st.builds(Send, st.integers(0, len(ZENDERS) - 1), st.integers(0, len(CLIENTS) - 1), st.sampled_from(ANSWERS),
                 st.booleans())
BACK = st.builds(Send, st.just(0), st.integers(0, len(CLIENTS) - 1), st.sampled_from(RETOUR_ANSWERS), st.booleans(),
                 INDEX)
WAVE = st.builds(Wave, st.lists(st.one_of(HEEN, HEEN, BACK), min_size=2, max_size=4).map(tuple))


def sequences(max_size: int) -> st.SearchStrategy[list[Event]]:
    """A first wave, then waves, Fo01s and replays (one that names what is not there yet is passed over)."""
    events = st.one_of(WAVE, WAVE, WAVE, st.builds(Refuse, INDEX, st.sampled_from(FO01_CODES)),
                       st.builds(Replay, INDEX, st.just(False), st.sampled_from(ANSWERS)))
    return st.tuples(WAVE, st.lists(events, max_size=max_size - 1)).map(lambda t: [t[0], *t[1]])


# ---------------------------------------------------------------- one wave: its posts, its answers


@dataclass
class Retour:
    """A 302 sent back: its IdentificatieRetour, the message it answers, the Di01 its Du01 must name, and what the
    chain should hold of the Du01."""

    retour_id: str
    route: str
    heen: Message
    zender: str
    cross: str
    message_id: str
    expected: str | None


@dataclass
class Post:
    """One sender's post in a wave and what it got: the answer, and the chain's record of its envelope the moment
    the answer arrived (``seen``: its answers so far)."""

    send: Send
    body: bytes
    route: str
    key: tuple[str, str]  # the stand-in's key of its envelopes: (berichtcode, identificatie or retour's)
    heen: tuple[Message, str] | None = None  # a 302's: the message it answers, the Di01 the chain holds for it
    second: bool = False  # a 302 to a message that had one on a route of the ledger: refused (StUF016), nothing sent
    answer: httpx.Response | None = None
    seen: list[str] = field(default_factory=list)
    dead_then: bool = False


def retour_body(heen: Message, zender: str, client: int, retour_id: str) -> bytes:
    """The 302 to ``heen``: it echoes the 301's Afzender, Identificatie and Dagtekening (the fixture's)."""
    body = RETOUR.read_bytes().replace(b"<wmo302:Afzender>0384<", f"<wmo302:Afzender>{zender}<".encode())
    body = body.replace(b">1d8d1f0852bf<", f">{heen.identificatie}<".encode())
    body = body.replace(b">ovs302a02001<", f">{retour_id}<".encode())
    return body.replace(b"123456782", CLIENTS[client].encode())


@dataclass
class Flows(Exchange):
    """The exchange with waves: its retours and which zender each message came from."""

    retours: list[Retour] = field(default_factory=list)
    zender_of: dict[str, str] = field(default_factory=dict)  # message id -> its 301's zender
    posts: int = 0

    def step(self, event: Event) -> None:  # type: ignore[override]
        if isinstance(event, Wave):
            self.wave(event)
            self.sidecar.settle()
        elif isinstance(event, Refuse | Replay):
            super().step(event)

    def prepare(self, send: Send, answered: set[str]) -> Post | None:
        """The post of one send, its answer planned in the chain; None for a 302 when every delivered message has one
        in this wave (``answered``: their Identificatie; two 302s to one 301 at once would race for its identity)."""
        number = next(numbers)
        route = "delivered" if send.delivered else "default"
        if send.retour_of is None:
            body = variant(sample(), number).replace(b"<wmo301:Afzender>0384<",
                                                     f"<wmo301:Afzender>{ZENDERS[send.zender]}<".encode())
            body = body.replace(b"123456782", CLIENTS[send.client].encode())
            key = ("Di01", f"t{number:011d}")
        else:
            delivered = [m for m in self.messages if m.expected == BV and m.identificatie not in answered]
            if not delivered:
                return None
            heen = delivered[send.retour_of % len(delivered)]
            answered.add(heen.identificatie)
            key = ("Du01", f"r{number:011d}")
            body = retour_body(heen, self.zender_of[heen.message_id], send.client, key[1])
            route = "retour-delivered" if send.delivered else "retour"
            second = any(r.heen is heen for r in self.retours)  # one 302 to a 301 on all routes of the ledger
            if not second:
                self.chain.planned[key] = deque([send.answer])
            return Post(send, body, route, key,
                        (heen, str(self.sidecar.rows()[heen.message_id]["referentienummer"])), second)
        self.chain.planned[key] = deque([send.answer])
        return Post(send, body, route, key)

    def wave(self, wave: Wave) -> None:
        """Post every send of ``wave`` at once (one thread each, released together) and check each answer."""
        answered: set[str] = set()
        posts = [p for p in (self.prepare(s, answered) for s in wave.sends) if p is not None]
        start = threading.Barrier(len(posts))

        def run(post: Post) -> None:
            start.wait()
            post.answer = httpx.post(f"{self.url}/soap/{post.route}", content=post.body, timeout=60)
            with self.chain._lock:
                post.seen = [o.answer for o in self.chain.offers if _key(o) == post.key]
            if "x-overstap-message" in post.answer.headers:
                row = self.sidecar.rows().get(post.answer.headers["x-overstap-message"])
                post.dead_then = row is not None and row["status"] == outbox.DEAD

        threads = [threading.Thread(target=run, args=(p,)) for p in posts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        for post in posts:
            self.posts += 1
            self.answered(post)

    def answered(self, post: Post) -> None:
        """Check one sender's answer: a Bv03 at once (``ack: durable``), else the chain's verdict, given only
        after the chain gave it."""
        answer, send = post.answer, post.send
        assert answer is not None, "a sender got no answer"
        if post.second:  # one 302 to a 301 (any route): a second one is another message under its identification
            assert answer.status_code == 500 and _CODE.findall(answer.content) == [b"StUF016"], answer.text
            assert "x-overstap-message" not in answer.headers and post.seen == [], (answer.headers, post.seen)
            note(f"{post.route}: a second 302 to message {post.heen[0].message_id}, refused StUF016")
            return
        said = verdict(send.answer)
        if not send.delivered or said == BV:
            assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, (post.route, answer.text)
        else:
            code = said.split(" ")[1] if said else "StUF058"  # DOWN: the chain never answered in StUF
            assert answer.status_code == 500 and _CODE.findall(answer.content) == [code.encode()], answer.text
        assert "x-overstap-duplicate" not in answer.headers
        if send.delivered:  # the verdict was the chain's before the sender heard it
            assert (said in post.seen) if said else (post.seen and post.dead_then), (post.key, said, post.seen)
        message_id = answer.headers["x-overstap-message"]
        self.sidecar.messages += 1
        if post.heen is None:
            message = Message(post.body, post.key[1], message_id, said)
            self.messages.append(message)
            self.zender_of[message_id] = ZENDERS[send.zender]
        else:
            heen, cross = post.heen
            self.retours.append(Retour(post.key[1], post.route, heen, self.zender_of[heen.message_id], cross,
                                       message_id, said))
        note(f"{post.route}: message {message_id} ({post.key[0]}), chain answers {send.answer}")


def _key(offer: Offer) -> tuple[str, str]:
    return (offer.berichtcode, offer.retour if offer.berichtcode == "Du01" else offer.identificatie)


# ---------------------------------------------------------------- the invariants


def check_flows(run: Flows) -> None:
    """The heen messages' ends and the chain's rules (as the one-at-a-time property checks them), each retour's
    Du01, and the chain's end state against the envelopes it took, applied one by one in the order it took them."""
    check_invariants(run, overtaken=True)
    offers, rows = run.chain.offers, run.sidecar.rows()
    mine = {r.retour_id: r for r in run.retours}
    mine_heen = {m.identificatie for m in run.messages}
    # the Du01s the chain stored: not a transient Fo03, nor one overtaken by a later Du01 of the aanbieder (StUF019:
    # the sidecar sent it again in a new envelope, checked by check_chain_rules and the outbox's last reference)
    back = [o for o in offers if o.berichtcode == "Du01" and not o.repeat and o.answer not in (NOT_STORED, DOWN)
            and not o.broken]
    assert {o.retour for o in back if o.identificatie in mine_heen} <= set(mine), "a Du01 of no retour sent"
    for retour in run.retours:
        sent = [o for o in back if o.retour == retour.retour_id]
        assert len(sent) == 1, f"retour {retour.retour_id} in {len(sent)} envelopes: {sent}"  # stored once
        (du01,) = sent
        row = rows[retour.message_id]
        assert (du01.cross, du01.ontvanger, du01.zender.split("/")[0], du01.identificatie) == \
               (retour.cross, retour.zender, AANBIEDER, retour.heen.identificatie), (du01, retour)
        assert str(row["referentienummer"]) == du01.ref
        assert run.chain.answer_for(du01.ref) == retour.expected
        assert (row["status"], row["reply_code"]) == (outbox.DELIVERED if retour.expected == BV else outbox.DEAD,
                                                      retour.expected), dict(row)
    took = list(run.chain.took_all().values())
    again = StrictChain()
    for offer in took:  # applied one by one in the order the chain took them: each taken as it was
        assert again.take(offer.body) is not None
    assert [(o.berichtcode, o.zender, o.ref, o.cross, o.tijdstip, o.answer) for o in again.took_all().values()] \
        == [(o.berichtcode, o.zender, o.ref, o.cross, o.tijdstip, BV) for o in took]
    check_chain_rules(again.offers)
    assert not any(run.chain.planned.values()), "an answer planned for an envelope never sent"


def flows(sidecar: Sidecar, events: list[Event]) -> Flows:
    """Run ``events`` through the shared sidecar and chain; check every answer and then the invariants."""
    sidecar.settle()
    run = Flows(sidecar)
    for event in events:
        note(repr(event))
        run.step(event)
    check_flows(run)
    return run


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    with serving(tmp_path_factory.mktemp("ggk-flows"), routes=ROUTES) as shared:
        yield shared


EVERY_FLOW = [Wave((Send(0, 0, BV, False),)),
              Wave((Send(1, 1, BV, True), Send(0, 2, LOST, True), Send(1, 0, "Fo03 StUF055", True),
                    Send(0, 1, BV, False))),
              Refuse(0, "IB001"),
              Wave((Send(0, 0, BV, True, 0), Send(0, 1, SLOW, False, 1), Send(0, 1, BV, False),
                    Send(1, 2, DOWN, True))),
              Replay(0, False, BV),
              Wave((Send(0, 0, "Fo03 StUF055", True, 0), Send(0, 2, BV, False, 2), Send(0, 1, NOT_STORED, True),
                    Send(1, 1, SLOW, True))),
              Replay(6, False, BV)]
"""Every kind once: a first 301 alone (the first envelope the chain takes), then four senders at once, two zenders,
on both routes (a Bv03, a lost answer, a Fo03 at once); a Fo01 about the first; retours on both routes beside a 301
and an envelope never answered; the replay of the refused first message in a new envelope, then the retour to it
(its Du01 must name the new envelope; the chain refuses it at once) beside a second 302 to a message that had one
(StUF016), a transient Fo03 and a late answer on ``ack: delivered``; last the replay of the envelope never answered,
after a later one of its zender: StUF019, renewed at once. (Envelopes a later one of their zender overtook on the way
get StUF019 too, and are renewed alike: most runs draw one, none can be sure to.)"""


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events=sequences(4))
@example(events=EVERY_FLOW)
def test_ggk_retours_and_concurrent_senders_keep_the_chain_rules(sidecar: Sidecar, events: list[Event]) -> None:
    started = time.monotonic()
    run = flows(sidecar, events)
    note(f"{len(run.messages)} messages, {len(run.retours)} retours, {time.monotonic() - started:.1f} s")


@pytest.mark.slow
@settings(max_examples=depth(10, 40), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events=sequences(12))
def test_longer_ggk_flows_keep_the_chain_rules(sidecar: Sidecar, events: list[Event]) -> None:
    """The same property deeper: longer sequences, more of them (10 in `make test`, about 27 s; 40 in the nightly's
    ``OVERSTAP_DEPTH=long``, about 110 s)."""
    flows(sidecar, events)
