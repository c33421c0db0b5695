"""Property: any sequence of GGk exchange events, between vendors, a real ``overstap serve`` on a ggk route and a
strict chain (tests/ggk_chain_standin.py), ends with each vendor message delivered once or a dead letter with the
chain's reason, every envelope within the chain's rules, and ``outbox list`` telling what the chain holds.

Why: the pieces (a Fo01 later, a Fo03 at once, a replay or a sender's re-offer in a new envelope, retries of a lost
answer) are each tested alone (test_ggk_fo01.py, test_ggk_chain_refusal.py); the chain sees them interleaved, and it
spends a UUID once per zender (IB216, CC08) and wants tijdstipBericht strictly rising per zender (StUF019). The
events: a vendor message arrives (two zenders, three clients); the chain answers its envelope Bv03, Fo03 at once, a
transient Fo03 (StUF046: not stored), drops the connection after storing it, or answers past the sidecar's
timeout; the chain refuses an envelope it took in a Fo01 later, or sends a Fo01 again; the vendor offers a message
again (the same bytes); an operator replays its delivery (``POST /admin/replay``, or ``overstap outbox replay`` with
the sidecar stopped). After each event the test waits until nothing is pending and checks the sidecar's answer;
after the sequence it checks the invariants (:func:`check_invariants`). Hypothesis shrinks a failure to the
shortest list of events, printed as it ran.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from depth import depth
from ggk_chain_standin import BV, DOWN, LOST, NOT_STORED, RETRIED, SLOW, Offer, StrictChain
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from proxy_helpers import ROOT, GatewayProcess, free_port, overstap_command, sample, soap11, variant, wait_for
from test_ggk_fo01 import ACTION, fo01

from gateway.deliver import outbox

ZENDERS = ("0384", "0363")  # the 301's Afzender: the Di01's zender organisatie
CLIENTS = ("123456782", "111222333", "999999990")
ANSWERS = (BV, BV, "Fo03 StUF055", "Fo03 StUF010", NOT_STORED, LOST, SLOW, DOWN)
FO01_CODES = ("IB001", "CC02")
ADMIN = {"X-Admin-Key": "geheim"}
TIMEOUT = 1.0  # the sidecar's downstream timeout; the chain's SLOW answer comes after 2.5 times it
numbers = itertools.count(1)


# ---------------------------------------------------------------- events (what hypothesis draws and shrinks)


@dataclass(frozen=True)
class New:
    """A vendor message arrives; the chain answers its envelope ``answer``."""

    zender: int
    client: int
    answer: str


@dataclass(frozen=True)
class Reoffer:
    """The vendor offers the ``n``-th message again, byte for byte; a new envelope, if any, is answered ``answer``."""

    n: int
    answer: str


@dataclass(frozen=True)
class Refuse:
    """The chain refuses the ``n``-th envelope it holds as taken in a Fo01 with ``code``; ``another_party``: any
    envelope it took, refused since or not (IB, RINIS and VECOZO each answer in Fo01s, GGk spec 2.3)."""

    n: int
    code: str
    another_party: bool = False


@dataclass(frozen=True)
class RefuseAgain:
    """The chain sends the ``n``-th Fo01 it sent again (Digikoppeling's guaranteed delivery may)."""

    n: int


@dataclass(frozen=True)
class Replay:
    """An operator replays the ``n``-th message's delivery, through the admin API or the CLI (sidecar stopped)."""

    n: int
    cli: bool
    answer: str


Event = New | Reoffer | Refuse | RefuseAgain | Replay
INDEX = st.integers(0, 7)
NEW = st.builds(New, st.integers(0, len(ZENDERS) - 1), st.integers(0, len(CLIENTS) - 1), st.sampled_from(ANSWERS))


def sequences(max_size: int, cli: bool) -> st.SearchStrategy[list[Event]]:
    """A first message, then any events (one that names what is not there yet is passed over); ``cli``: replays
    through the CLI too (each stops and starts the sidecar: seconds)."""
    events = st.one_of(NEW, NEW, st.builds(Reoffer, INDEX, st.sampled_from(ANSWERS)),
                       st.builds(Refuse, INDEX, st.sampled_from(FO01_CODES), st.booleans()),
                       st.builds(RefuseAgain, INDEX),
                       st.builds(Replay, INDEX, st.booleans() if cli else st.just(False), st.sampled_from(ANSWERS)))
    return st.tuples(NEW, st.lists(events, max_size=max_size - 1)).map(lambda t: [t[0], *t[1]])


def verdict(answer: str) -> str | None:
    """What the chain holds of an envelope it answered ``answer``: taken (its answer lost, late or not stored and
    the same envelope taken on retry), refused at once, or nothing (DOWN: never answered, a dead letter)."""
    return None if answer == DOWN else BV if answer in RETRIED else answer


# ---------------------------------------------------------------- one exchange: a sidecar, a chain, the vendors


@dataclass
class Message:
    """A vendor message: its bytes, its Identificatie (what the chain finds in the envelope's payload), the outbox
    message id the sidecar answered, and what the chain should hold of it now (the model)."""

    body: bytes
    identificatie: str
    message_id: str
    expected: str | None


@dataclass
class Sidecar:
    """One ``overstap serve`` on a ggk route and one strict chain, shared by every sequence of a test run (the
    sidecar's start, 2-9 s on two shared cores, would dominate). Sequences do not meet: each sends messages of its
    own (a new Identificatie each) and refuses only envelopes of its own; between two nothing is pending, and the
    chain's record and rules run on over all of them."""

    tmp: Path
    chain: StrictChain
    gw: GatewayProcess | None = None
    messages: int = 0
    timeout: float = TIMEOUT
    retry: dict[str, float] = field(default_factory=lambda: {"max_attempts": 8, "base_delay": 0.05, "max_delay": 0.2})
    routes: dict[str, dict[str, object]] = field(default_factory=lambda: {"default": {"downstream": "isd",
                                                                                      "profile": "ggk"}})

    @property
    def data(self) -> Path:
        return self.tmp / "data"

    def start(self) -> None:
        config = self.tmp / "serve.yaml"
        config.write_text(json.dumps({
            "data_dir": str(self.data), "convert_processes": 0, "admin_key": "geheim",
            "downstreams": {"isd": {"url": self.chain.url, "timeout": self.timeout, "retry": self.retry}},
            "routes": self.routes}))
        self.gw = GatewayProcess(["--config", str(config), "--log-level", "info"], free_port(),
                                 self.tmp / "gateway.log").start()

    def stop(self) -> None:
        if self.gw is not None:
            self.gw.terminate()
            self.gw = None

    @property
    def url(self) -> str:
        assert self.gw is not None
        return self.gw.url

    def rows(self) -> dict[str, sqlite3.Row]:
        """message id -> its delivery to the chain, read from the outbox file (read-only)."""
        conn = sqlite3.connect(f"file:{self.data / outbox.DB_NAME}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return {str(r["message_id"]): r for r in conn.execute("SELECT * FROM delivery WHERE target = 'new'")}
        finally:
            conn.close()

    def settle(self) -> None:
        """Wait until no delivery is pending (every attempt answered, every retry done)."""
        assert wait_for(lambda: all(r["status"] != outbox.PENDING for r in self.rows().values()), timeout=30), \
            "a delivery stayed pending"


@dataclass
class Exchange:
    """One sequence of events through the shared sidecar: its messages and Fo01s, and what the model expects."""

    sidecar: Sidecar
    messages: list[Message] = field(default_factory=list)
    fo01s: list[bytes] = field(default_factory=list)

    @property
    def chain(self) -> StrictChain:
        return self.sidecar.chain

    @property
    def url(self) -> str:
        return self.sidecar.url

    def step(self, event: Event) -> None:
        """Run one event against the real sidecar and check the answer the sender (or operator, or chain) got."""
        if isinstance(event, New):
            self.new(event)
        elif isinstance(event, Reoffer) and self.messages and self.messages[event.n % len(self.messages)].expected:
            self.reoffer(self.messages[event.n % len(self.messages)], event.answer)  # (a DOWN one passed over)
        elif isinstance(event, Refuse):
            self.refuse(event)
        elif isinstance(event, RefuseAgain) and self.fo01s:
            answer = self.post_fo01(self.fo01s[event.n % len(self.fo01s)])
            assert answer.headers.get("x-overstap-duplicate") == "true", answer.headers  # a repeat, nothing marked
        elif isinstance(event, Replay) and self.messages:
            self.replay(self.messages[event.n % len(self.messages)], event)
        self.sidecar.settle()

    def new(self, event: New) -> None:
        number = next(numbers)
        body = variant(sample(), number).replace(b"<wmo301:Afzender>0384<",
                                                 f"<wmo301:Afzender>{ZENDERS[event.zender]}<".encode())
        body = body.replace(b"123456782", CLIENTS[event.client].encode())
        self.chain.plan.append(event.answer)
        answer = httpx.post(self.url + "/soap", content=body, timeout=30)
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
        assert "x-overstap-duplicate" not in answer.headers
        self.sidecar.messages += 1
        self.messages.append(Message(body, f"t{number:011d}", answer.headers["x-overstap-message"],
                                     verdict(event.answer)))
        note(f"new message {answer.headers['x-overstap-message']}: chain answers {event.answer}")

    def reoffer(self, message: Message, answer_as: str) -> None:
        """The same bytes again: a re-send (Bv03, duplicate); a message the chain refused goes in a new envelope."""
        renew = message.expected != BV
        if renew:
            self.chain.plan.append(answer_as)
            message.expected = verdict(answer_as)
        answer = httpx.post(self.url + "/soap", content=message.body, timeout=30)
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
        assert answer.headers.get("x-overstap-duplicate") == "true", answer.headers
        assert answer.headers["x-overstap-message"] == message.message_id
        note(f"re-offer of message {message.message_id}: {'new envelope, ' + answer_as if renew else 'as is'}")

    def refuse(self, event: Refuse) -> None:
        """A Fo01 about an envelope the chain took (one of this exchange's): that delivery a dead letter. From
        another party of the chain, it may name one refused already (a second verdict: it counts) or one a replay
        has replaced since (a repeat: the delivery left as it is)."""
        mine = {m.identificatie for m in self.messages}
        took = self.chain.took() if event.another_party else self.chain.taken()
        offers = [o for o in took.values() if o.identificatie in mine]  # in the order the chain got them
        if not offers:
            return
        offer = offers[event.n % len(offers)]
        _ref, body = fo01(offer.ref)
        body = body.replace(b"<StUF:code>IB001<", f"<StUF:code>{event.code}<".encode())
        message = next(m for m in self.messages if m.identificatie == offer.identificatie)
        row = self.sidecar.rows()[message.message_id]
        current = row["referentienummer"] == offer.ref
        self.chain.refused_later[offer.ref] = event.code
        self.fo01s.append(body)
        answer = self.post_fo01(body)
        said = (answer.headers.get("x-overstap-delivery"), answer.headers.get("x-overstap-duplicate"))
        assert said == ((str(row["id"]), None) if current else (None, "true")), answer.headers
        if current:
            message.expected = f"Fo01 {event.code}"
        note(f"Fo01 {event.code} about message {message.message_id}'s {'' if current else 'replaced '}envelope")

    def post_fo01(self, body: bytes) -> httpx.Response:
        answer = httpx.post(self.url + "/soap", content=soap11(body), timeout=30,
                            headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
        return answer

    def replay(self, message: Message, event: Replay) -> None:
        """A dead letter (the chain refused it) goes in a new envelope; a delivered one is refused, nothing sent."""
        delivery_id = int(self.sidecar.rows()[message.message_id]["id"])
        dead, unanswered = message.expected != BV, message.expected is None
        self.chain.recover()  # a DOWN envelope: the chain takes it now, or answers StUF019 (later ones were sent)
        if dead:
            self.chain.plan.append(event.answer)
            message.expected = verdict(event.answer)
        if event.cli:
            self.sidecar.stop()  # beside a serving SQLite sidecar the CLI refuses: it stamps through the sidecar
            done = subprocess.run([*overstap_command(), "outbox", "replay", str(delivery_id), "--data-dir",
                                   str(self.sidecar.data)], cwd=ROOT, capture_output=True, timeout=120, check=False)
            out = done.stdout.decode()
            assert done.returncode == (0 if dead else 1), (out, done.stderr.decode())
            assert ("queued again as stored" if unanswered else "queued again in a new envelope") in out if dead \
                else f"FAIL {delivery_id}: already delivered" in out + done.stderr.decode(), out
            self.sidecar.start()
        else:
            answer = httpx.post(self.url + "/admin/replay", json={"ids": [delivery_id]}, headers=ADMIN, timeout=60)
            assert answer.status_code == 200, answer.text
            (result,) = answer.json()["results"]
            assert result["ok"] == dead, result
            assert result["note"].startswith("queued again as stored" if unanswered else "queued again in a new "
                                             "envelope " if dead else "already delivered"), result
        if unanswered:  # a StUF019 dead letter is renewed just after it is written: nothing pending in between
            def answered() -> bool:
                row = self.sidecar.rows()[message.message_id]
                return row["status"] != outbox.PENDING and row["reply_code"] != "Fo03 StUF019"

            assert wait_for(answered, timeout=30), "a replay refused StUF019 was not renewed"
        note(f"replay ({'cli' if event.cli else 'admin'}) of message {message.message_id}: "
             f"{'new envelope, ' + event.answer if dead else 'refused, delivered'}")


# ---------------------------------------------------------------- the invariants


def listed(data: Path) -> list[dict[str, object]]:
    """``overstap outbox list --json`` as an operator runs it."""
    done = subprocess.run([*overstap_command(), "outbox", "list", "--json", "--limit", "100000", "--data-dir",
                           str(data)], cwd=ROOT, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return list(json.loads(done.stdout))


def check_chain_rules(offers: list[Offer], overtaken: bool = False) -> None:
    """The chain's rules over every envelope it got: none refused for breaking them, a UUID spent once per zender,
    tijdstipBericht strictly rising per zender over those it did not refuse StUF019. ``overtaken``: envelopes of a
    zender were in flight at once, and one stamped earlier may have come after a later one (StUF019)."""
    # The one break allowed: a replay as stored of an envelope the chain never answered (DOWN), after later envelopes
    # of its zender, or (``overtaken``) an envelope a later one of its zender overtook: StUF019, and the sidecar put
    # it in a new envelope at once (checked by the callers: the outbox names the last envelope the chain got).
    unanswered = {(o.zender, o.ref) for o in offers if o.answer == DOWN or overtaken}
    assert [o for o in offers if o.broken and not (o.broken == "Fo03 StUF019"
                                                   and (o.zender, o.ref) in unanswered)] == [], \
        "the chain refused envelopes for breaking its rules"
    # A UUID goes to the chain again only as the same envelope, after an answer that was lost, came too late or
    # said it was not stored (StUF 03.01 4.4 and 4.4.3); never after a Bv03 or a Fo03 it keeps (IB216, CC08).
    by_ref: dict[tuple[str, str], list[int]] = {}
    for i, o in enumerate(offers):
        by_ref.setdefault((o.zender, o.ref), []).append(i)
    for (zender, ref), seen in by_ref.items():
        assert len({offers[i].digest for i in seen}) == 1, f"{ref} of {zender}: another envelope under that UUID"
        assert all(offers[i].answer in RETRIED for i in seen[:-1]), \
            f"{ref} of {zender} offered again after the chain answered it: {[offers[i].answer for i in seen]}"
    # tijdstipBericht strictly rising per zender over every envelope the chain got (its first offer each). With
    # ``overtaken`` (envelopes in flight at once), its first offer the chain did not answer "not stored" (StUF046,
    # DOWN): one stamped 3 ms earlier that overtook it then is kept first, as the chain's own check allows (found
    # under load in session 27); sent one at a time, the sidecar never offers an earlier stamp after a later one.
    def first(seen: list[int]) -> list[int]:
        return seen[:1] if not overtaken else [i for i in seen if offers[i].answer not in (NOT_STORED, DOWN)][:1]

    firsts = {key: first(seen) for key, seen in by_ref.items()}
    for zender in {o.zender for o in offers}:
        stamps = [offers[took[0]].tijdstip for (z, _r), took in sorted(firsts.items(), key=lambda kv: kv[1][:1])
                  if z == zender and took and not (overtaken and offers[took[0]].broken)]
        assert all(a < b for a, b in itertools.pairwise(stamps)), f"tijdstipBericht not rising for {zender}: {stamps}"


def check_invariants(run: Exchange, overtaken: bool = False) -> None:
    """What must hold after any sequence, on the values the chain and the outbox hold: the chain's rules over
    everything it got so far, the messages' ends over this sequence's."""
    chain, offers = run.chain, run.chain.offers
    check_chain_rules(offers, overtaken)
    deliveries = [d for d in listed(run.sidecar.data) if d["target"] == outbox.NEW]
    assert len(deliveries) == run.sidecar.messages, "one delivery per vendor message"
    taken = chain.taken()
    for message in run.messages:
        (row,) = [d for d in deliveries if str(d["message_id"]) == message.message_id]
        ref, said = str(row["referentienummer"]), chain.answer_for(str(row["referentienummer"]))
        held = [o for o in taken.values() if o.identificatie == message.identificatie]
        last = [o for o in offers if o.identificatie == message.identificatie and not o.repeat
                and o.berichtcode == "Di01"][-1]
        assert last.ref == ref, f"message {message.message_id}: the outbox names {ref}, the chain got {last.ref} last"
        assert said == message.expected, f"message {message.message_id}: the chain holds {said}, expected " \
                                         f"{message.expected}"
        if said is None:  # never answered (DOWN) and not replayed: a dead letter without a StUF reply
            assert (row["status"], row["reply_code"], held) == (outbox.DEAD, None, []), (row, held)
        elif said == BV:  # delivered: the chain took exactly one envelope for it, this one
            assert (row["status"], [o.ref for o in held]) == (outbox.DELIVERED, [ref]), (row, held)
        else:  # a dead letter with the chain's reason; the chain holds no envelope of it as taken
            assert (row["status"], row["reply_code"], held) == (outbox.DEAD, said, []), (row, held)
            assert said.split(" ")[1] in str(row["reason"]), row["reason"]
    log = (run.sidecar.tmp / "gateway.log").read_text()
    assert not [bsn for bsn in CLIENTS if bsn in log], "a BSN in the sidecar's log"


def exchange(sidecar: Sidecar, events: list[Event]) -> Exchange:
    """Run ``events`` through the shared sidecar and chain; check every answer and then the invariants."""
    sidecar.settle()
    assert not sidecar.chain.plan, "an answer planned by an earlier sequence was never used"
    run = Exchange(sidecar)
    for event in events:
        note(repr(event))
        run.step(event)
    assert not sidecar.chain.plan, "an answer was planned for an envelope the sidecar never sent"
    check_invariants(run)
    return run


@contextmanager
def serving(tmp: Path, timeout: float = TIMEOUT, **sidecar: Any) -> Iterator[Sidecar]:
    """A strict chain answering SLOW 2.5 times ``timeout`` late and a sidecar on it, for a module's tests."""
    with StrictChain(slow_seconds=timeout * 2.5) as chain:
        shared = Sidecar(tmp, chain, timeout=timeout, **sidecar)
        shared.start()
        try:
            yield shared
        finally:
            shared.stop()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    with serving(tmp_path_factory.mktemp("ggk-exchange")) as shared:
        yield shared


EVERY_KIND = [New(0, 0, BV), New(1, 1, "Fo03 StUF055"), New(0, 2, LOST), Refuse(0, "IB001"), RefuseAgain(0),
              Reoffer(1, SLOW), Replay(0, False, NOT_STORED), New(1, 0, BV), Replay(0, True, BV),
              Reoffer(3, BV), Refuse(0, "CC02", another_party=True), Refuse(4, "CC02", another_party=True),
              New(0, 1, DOWN), New(0, 0, BV), Replay(4, False, BV)]
"""Every kind of event once, among the fast run's sequences: a Fo03 at once re-offered (a new envelope whose
answer is late), a Fo01 and its repeat, the refused envelope replayed through the API (a transient Fo03 first),
a delivered one replayed through the CLI (refused), a delivered one re-offered (nothing sent), a second party's
Fo01 about a refused envelope a replay replaced (a repeat) and about the last one taken. The message whose answer
was lost stays delivered to the end (a Fo01 about it would hide a dead letter made of the lost answer)."""


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events=sequences(6, cli=False))
@example(events=EVERY_KIND)
def test_any_ggk_exchange_keeps_the_chain_rules(sidecar: Sidecar, events: list[Event]) -> None:
    exchange(sidecar, events)


BY_THE_CLI = [New(0, 0, "Fo03 StUF055"), Replay(0, True, BV), Replay(0, True, BV)]
"""A CLI replay of each outcome, whatever the quick depth draws: a refused message goes in a new envelope (the
chain takes it), then the same, delivered now, is refused (each replay stops and starts the sidecar: seconds)."""


@pytest.mark.slow
@settings(max_examples=depth(6, 40), deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events=sequences(14, cli=True))
@example(events=BY_THE_CLI)
def test_longer_ggk_exchanges_keep_the_chain_rules(sidecar: Sidecar, events: list[Event]) -> None:
    """The same property deeper: longer sequences, more of them, an operator's CLI replay among them (the sidecar
    stopped for it and started again on the same data folder). 6 sequences and :data:`BY_THE_CLI` in `make test`
    (about 40 s), 40 in the nightly's ``OVERSTAP_DEPTH=long`` (about 195 s)."""
    exchange(sidecar, events)
