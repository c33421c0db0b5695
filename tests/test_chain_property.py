"""Property: any sequence of chain events for a few clients and toewijzingen, converted through one Converter and one
ledger and delivered in order to the reference receiver, is accepted message by message (Bv03) and leaves every
zaak in the state an oracle works out from the events alone ("schema-valid is not correct": a receiver's view).

The events are iWmo 2.1 messages built from the fixtures in ``tests/fixtures/iwmo21`` by setting values with lxml
(the official 2.1 XSDs validate what goes in): a 301 that creates or corrects a toewijzing (another einddatum, another
volume, a RedenWijziging), a 301 that ends it (an ending RedenWijziging: in 2.1 that is the intrekking), a 305 start
or its withdrawal (StatusAanlevering 3), a 307 stop with its RedenBeeindiging, a 302 retour, and any earlier message
offered again unchanged. Session 24 added: a ReferentieAanbieder holding ``:``, a corrected Ingangsdatum (and so
another 2.x product key), 305/307 lines without a ToewijzingNummer found by the product key (2.0's way, optional in
2.1). Session 25 added a 307 with StatusAanlevering 3 (a stop withdrawn). Hypothesis shrinks a failure to the
shortest list of events, printed as it ran.

The oracle (tests/chain_oracle.py) says what the receiver should hold, from docs/canonical-spec.md 3 and 7.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chain_messages import (
    FIRST_DAY,
    LAST_DAY,
    Toewijzing,
    message_301,
    message_302,
    message_305,
    message_307,
    message_315,
)
from chain_oracle import AFGEHANDELD, ENDING, GESTART, GESTOPT, INGETROKKEN, Expected, Oracle, ymd
from clocks import StepClock
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from gateway.ledger import MemoryLedger
from gateway.mapping import Registry
from gateway.pipeline import FAILURES, Converter, describe
from gateway.receiver import Receiver

NOT_ENDING = (None, "01", "04", "05")  # 2.1 RedenWijziging that correct a toewijzing: none, correction, longer, shorter
TOEWIJZINGEN = (Toewijzing("200001", "123456782", "700000001", "01A01"),
                Toewijzing("200002", "123456782", "700000001", "01A01"),
                Toewijzing("200003", "111222333", "700000002", "01A01"))
"""Two toewijzingen of one client share beschikking, product and Ingangsdatum, so their 2.x product key: a new
ToewijzingNummer for the same product from the same day is how a volume change is sent (notes: IV066)."""
PARTNER = {0: 1, 1: 0}
"""The other toewijzing of the same client: a message may carry a line for both (``pair``)."""


# ---------------------------------------------------------------- events (what hypothesis draws and shrinks)


@dataclass(frozen=True)
class Toewijs:
    """A 301 line: new, corrected (einddatum, volume, a RedenWijziging) or ending (an ending RedenWijziging)."""

    t: int
    einde: int | str  # days from the Dagtekening, or "ingang" (= Ingangsdatum), or "jaar" (2016-12-31)
    volume: int
    reden: str | None
    pair: bool = False  # a second line, the same values, for the client's other toewijzing
    same_moment: bool = False  # Toewijzingsdatum/-tijd of the last 301 for this toewijzing (a corrected resend)
    r: int | None = None  # the first line names request ``r`` of its client (ReferentieAanbieder)
    ingang: int = 0  # the Ingangsdatum, days from FIRST_DAY (never later: every date the chain sends is on or
    # after it): another one corrects it, and with it the 2.x product key


@dataclass(frozen=True)
class Vraag:
    """A 315: request ``r`` of toewijzing ``t``'s client for its product (ReferentieAanbieder per client and r)."""

    t: int
    r: int


@dataclass(frozen=True)
class Start:
    """A 305 line: delivery started at ``begin`` days from the Dagtekening, or its start withdrawn."""

    t: int
    begin: int
    withdraws: bool
    pair: bool = False
    by_product: bool = False  # its lines name no ToewijzingNummer: found by the 2.x product key (as in 2.0)


@dataclass(frozen=True)
class Stop:
    """A 307 line: delivery stopped ``einde`` days from the Dagtekening (not after it)."""

    t: int
    einde: int
    reden: str
    pair: bool = False
    by_product: bool = False  # as Start's
    withdraws: bool = False  # StatusAanlevering 3: the stop per ``einde`` withdrawn (numbered lines only)
    last: bool = False  # withdrawing: the line of the last stop built for its toewijzing again, its Einddatum and
    # RedenBeeindiging instead of ``einde`` and ``reden`` (as the samples withdraw: the old line with 3)


@dataclass(frozen=True)
class Retour:
    """A 302: the aanbieder's answer to a 301; it changes no zaak."""

    t: int


@dataclass(frozen=True)
class Again:
    """The ``n``-th earlier message (modulo how many there are) offered again, byte for byte."""

    n: int


@dataclass(frozen=True)
class Step:
    """An event and how many days pass before it."""

    days: int
    event: Vraag | Toewijs | Start | Stop | Retour | Again


TS = st.integers(0, len(TOEWIJZINGEN) - 1)
CORRECTIONS = st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14, "ingang", "jaar"]), st.sampled_from([22500, 18000]),
                        st.sampled_from(NOT_ENDING), st.booleans(), st.booleans(), st.none() | st.integers(1, 3),
                        st.sampled_from([0, -7]))
EVENTS = st.one_of(
    CORRECTIONS,
    st.builds(Vraag, TS, st.integers(1, 3)),
    st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14, "ingang"]), st.just(22500), st.sampled_from(ENDING),
              st.booleans(), st.booleans()),
    st.builds(Start, TS, st.sampled_from([-5, -2, 0]), st.booleans(), st.booleans(), st.booleans()),
    st.builds(Start, TS, st.sampled_from([-5, -2, 0]), st.booleans(), st.booleans(), st.booleans()),
    st.builds(Stop, TS, st.sampled_from([-1, 0]), st.sampled_from(["02", "19", "31"]), st.booleans(), st.booleans()),
    st.builds(Stop, TS, st.sampled_from([-1, 0]), st.sampled_from(["02", "19", "31"]), st.booleans(),
              withdraws=st.just(True), last=st.booleans()),
    st.builds(Retour, TS),
    st.builds(Again, st.integers(0, 20)),
)


@st.composite
def chains(draw: st.DrawFn, max_size: int) -> list[Step]:
    """Some toewijzingen created first (a chain mostly starts with its 301s), then any events."""
    first = draw(st.lists(TS, unique=True, max_size=len(TOEWIJZINGEN)))
    return [Step(0, Toewijs(t, "jaar", 22500, None)) for t in first] + draw(
        st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=max_size))


# ---------------------------------------------------------------- messages: the fixtures with values set by lxml



# ---------------------------------------------------------------- running a chain


@functools.cache
def registry() -> Registry:
    """The shipped dialects, read once: reading them is most of a fresh Converter's second."""
    return Registry()


@dataclass
class Offered:
    """A message built from an event, kept to be offered again, and what it means to the oracle (its property's:
    this one's :class:`~chain_oracle.Oracle`, or test_chain_property_32's)."""

    name: str
    xml: bytes
    apply: Callable[[Any], Expected]


@dataclass
class Delivery:
    """One Converter with one ledger; one receiver that gets every output, in order (both properties' runs)."""

    converter: Converter = field(default_factory=lambda: Converter(registry(), validate=True, ledger=MemoryLedger(),
                                                                      clock=StepClock()))
    receiver: Receiver = field(default_factory=Receiver)
    offered: list[Offered] = field(default_factory=list)
    count: int = 0

    def offer(self, event: object, build: Callable[[Any], Offered]) -> Offered | None:
        """The message of ``event``: built (and kept), or an earlier one again (None before there is one)."""
        if isinstance(event, Again):
            if not self.offered:
                return None
            first = self.offered[event.n % len(self.offered)]
            return Offered(first.name + " again", first.xml, first.apply)
        self.offered.append(build(event))
        return self.offered[-1]

    def deliver(self, offered: Offered, expected: Expected, refused_field: str | None = "clients") -> bool:
        """Convert ``offered`` and deliver every output; whether it converted. A refusal must be the oracle's (its
        code, and ``refused_field`` where given), an output its operations, and every answer a Bv03."""
        try:
            conversion = self.converter.convert(offered.xml, offered.name)
        except FAILURES as exc:
            info = describe(exc, offered.name)  # as convert, batch and the sidecar report it
            assert expected.refused is not None, f"{offered.name} refused: {info}"
            assert (info.code, info.source) == (expected.refused, offered.name), info
            assert refused_field is None or info.field == (expected.refused_field or refused_field), info
            return False
        assert expected.refused is None, f"{offered.name} converted; the oracle expected {expected.refused}"
        assert [o.operation for o in conversion.outputs] == expected.operations, offered.name
        warned = [w.message for w in conversion.warnings if "names no ToewijzingNummer" in w.message]
        assert len(warned) == len(expected.warned), (offered.name, warned, expected.warned)  # a line without a
        for text, candidates in zip(warned, expected.warned, strict=True):  # ToewijzingNummer that the rules left
            assert f"toewijzingen {', '.join(candidates)}, " in text, (offered.name, text)  # a choice says so
        for output in conversion.outputs:
            answer = self.receiver.receive(output.xml, output.soap_action)
            assert answer.accepted, f"{offered.name}: {output.operation} answered Fo03: {answer.fout}"
        return True


@dataclass
class Run(Delivery):
    """A chain of iWmo 2.1 events, its oracle beside it."""

    oracle: Oracle = field(default_factory=Oracle)
    day: dt.date = FIRST_DAY
    moments: dict[str, dt.datetime] = field(default_factory=dict)  # of the last 301 built for each toewijzing
    ingang: dict[str, dt.date] = field(default_factory=dict)  # the Ingangsdatum of that 301 (a 305/307 names it)
    stops: dict[str, tuple[dt.date, str]] = field(default_factory=dict)  # Einddatum, reden of the last 307 built
    say: Callable[[str], None] = lambda text: None  # hypothesis' note inside a test: the steps of a failure

    def build(self, event: Vraag | Toewijs | Start | Stop | Retour) -> Offered:
        self.count += 1
        ts = [TOEWIJZINGEN[event.t]] + ([TOEWIJZINGEN[PARTNER[event.t]]] if getattr(event, "pair", False)
                                        and event.t in PARTNER else [])
        day, ident = self.day, f"prop{self.count:08d}"
        dag = ymd(day)
        name = f"#{self.count} {type(event).__name__.lower()} {'+'.join(t.nummer for t in ts)}"
        if isinstance(event, Vraag):
            ref = referentie(ts[0], event.r)
            return Offered(name, message_315(ts[0], ident, day, ref), lambda o: o.vraag(ts[0], dag, ref))
        if isinstance(event, Toewijs):
            ingang = FIRST_DAY + dt.timedelta(days=event.ingang)
            einde = ingang if event.einde == "ingang" else LAST_DAY if event.einde == "jaar" else max(
                FIRST_DAY, day + dt.timedelta(days=int(event.einde)))
            for t in ts:
                self.ingang[t.nummer] = ingang
            moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
            if event.same_moment:  # a corrected 301 sent with the Toewijzingsdatum/-tijd of the one before
                moment = self.moments.get(ts[0].nummer, moment)
            for t in ts:
                self.moments[t.nummer] = moment
            at = moment.strftime("%Y%m%d%H%M%S")
            refs = [referentie(ts[0], event.r) if event.r else None] + [None] * (len(ts) - 1)
            xml = message_301(ts, ident, day, moment, einde, event.volume, event.reden, refs[0], ingang)
            return Offered(name, xml, lambda o: o.message([lambda t=t, ref=ref: o.toewijs(
                t, dag, at, ymd(einde), str(event.volume), event.reden, ref, ymd(ingang))
                for t, ref in zip(ts, refs, strict=True)]))
        if isinstance(event, Start):
            begin = max(FIRST_DAY, day + dt.timedelta(days=event.begin))
            ingang = self.ingang.get(ts[0].nummer, FIRST_DAY)
            xml = message_305(ts, ident, day, begin, event.withdraws, ingang, not event.by_product)
            status, opposite = (INGETROKKEN, GESTART) if event.withdraws else (GESTART, INGETROKKEN)
            return Offered(name, xml, lambda o: o.message([lambda t=t: o.delivery(
                t, dag, status, ymd(begin), opposite, None, ymd(ingang), event.by_product) for t in ts]))
        if isinstance(event, Stop):
            einde, reden = self.stopped(event, ts[0], day)
            ingang = self.ingang.get(ts[0].nummer, FIRST_DAY)
            xml = message_307(ts, ident, day, einde, reden, ingang, not event.by_product, event.withdraws)
            if event.withdraws:
                return Offered(name, xml, lambda o: o.message([lambda t=t: o.withdraw_stop(
                    t, dag, ymd(einde), f"RedenBeeindiging {reden}", ymd(ingang)) for t in ts]))
            return Offered(name, xml, lambda o: o.message([lambda t=t: o.delivery(
                t, dag, GESTOPT, ymd(einde), None, f"RedenBeeindiging {event.reden}", ymd(ingang), event.by_product,
                ymd(ingang)) for t in ts]))  # a 307's Begindatum: its ToewijzingIngangsdatum (message_307)
        return Offered(name, message_302(ts, ident, day), lambda o: Expected())

    def stopped(self, event: Any, t: Toewijzing, day: dt.date) -> tuple[dt.date, str]:
        """The Einddatum and RedenBeeindiging of 307 ``event`` for ``t`` (both properties' Stop): ``einde`` days from
        ``day``, or (a withdrawal of the ``last`` stop) those of the last 307 built for ``t``; kept as the last."""
        if event.withdraws and event.last and t.nummer in self.stops:
            return self.stops[t.nummer]
        einde = max(FIRST_DAY, day + dt.timedelta(days=event.einde))
        if not event.withdraws:
            self.stops[t.nummer] = (einde, event.reden)
        return einde, event.reden

    def step(self, step: Step) -> None:
        self.day += dt.timedelta(days=step.days)
        offered = self.offer(step.event, self.build)
        if offered is None:
            return
        expected = offered.apply(self.oracle)
        self.say(f"{offered.name} ({self.day}): expected {expected}")
        if self.deliver(offered, expected):
            self.check()

    def check(self) -> None:
        snapshot = self.receiver.snapshot().values()
        for t in TOEWIJZINGEN:
            found = [z for z in snapshot if {"kenmerk": t.nummer, "bron": "ToewijzingNummer"} in z["kenmerken"]]
            want = self.oracle.zaken.get(t.nummer)
            assert len(found) == (want is not None), (t.nummer, len(found))
            if want is None:
                continue
            (zaak,) = found
            assert zaak["zaaktype"] == "WMOTOEW"
            extra = zaak["extraElementen"]
            held = (zaak["startdatum"], zaak["einddatumGepland"], zaak["einddatum"])
            assert held == (want.startdatum, want.einddatum_gepland, want.einddatum), t.nummer
            resultaat = (zaak["resultaat"] or {}).get("omschrijving")
            assert (resultaat is None) == (want.resultaat is None), (t.nummer, resultaat)
            assert want.resultaat is None or want.resultaat in resultaat, (t.nummer, resultaat)
            assert (extra.get("product.code"), extra.get("product.omvang.volume")) == (t.code, want.volume), t.nummer
            assert extra.get("toewijzing.tijdstip") == want.tijdstip, t.nummer
            assert extra.get("toewijzing.reden_wijziging") == want.reden, t.nummer
            statussen = [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]]
            assert statussen == want.statussen, t.nummer
            latest = zaak["laatsteStatus"]  # as the receiver works it out from datumStatusGezet (ZDS 1.2 4.1.3.1)
            assert (latest and (latest["statustype"], latest["datumStatusGezet"])) == (
                want.statussen[-1] if want.statussen else None), t.nummer
            closed = latest is not None and latest["statustype"] == AFGEHANDELD  # ZDS 1.2 4.1.3: closed at it
            assert closed == (zaak["einddatum"] is not None), t.nummer
            refs = [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ReferentieAanbieder"]
            assert refs == ([want.referentie] if want.referentie else []), t.nummer
            assert zaak["heeftBetrekkingOpAndere"] == [aanvraagzaak(snapshot, ref)["identificatie"]
                                                       for ref in want.andere], t.nummer
        for ref, aanvraag in self.oracle.aanvragen.items():
            zaak = aanvraagzaak(snapshot, ref)
            resultaat = (zaak["resultaat"] or {}).get("omschrijving")
            assert (zaak["einddatum"], resultaat) == (aanvraag.einddatum, aanvraag.resultaat), ref
            assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == aanvraag.statussen, ref
        assert len(snapshot) == len(self.oracle.zaken) + len(self.oracle.aanvragen)  # no zaak the events do not make


def aanvraagzaak(snapshot: Iterable[dict[str, Any]], referentie: str) -> dict[str, Any]:
    """The one aanvraagzaak the receiver holds under ``referentie`` (its kenmerk, bron ReferentieAanbieder)."""
    (zaak,) = [z for z in snapshot if z["zaaktype"] == "WMOAANV"
               and {"kenmerk": referentie, "bron": "ReferentieAanbieder"} in z["kenmerken"]]
    return zaak


def referentie(t: Toewijzing, r: int) -> str:
    """The ReferentieAanbieder of request ``r`` of ``t``'s client: an aanbieder's own, unique reference. The third
    holds ``:`` (LDT_Referentie is any string of 1-36), the character chain keys are joined with."""
    return f"VZ:{t.bsn[-3:]}:{r}" if r == 3 else f"VZ-{t.bsn[-3:]}-{r}"


def run_chain(steps: list[Step], say: Callable[[str], None] = lambda text: None) -> Run:
    run = Run(say=say)
    for step in steps:
        run.step(step)
    return run


FOUND = (
    [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Toewijs(1, "jaar", 18000, None))],
    [Step(0, Vraag(0, 1)), Step(1, Toewijs(0, "jaar", 22500, None, r=1)), Step(4, Vraag(0, 2)),
     Step(1, Toewijs(0, "jaar", 18000, None, r=1))],
    [Step(0, Vraag(2, 1)), Step(0, Toewijs(2, "jaar", 22500, None, r=1)), Step(1, Vraag(2, 1))],
    [Step(0, Vraag(0, 3)), Step(1, Toewijs(0, "jaar", 22500, None, r=3)), Step(4, Vraag(0, 1))],
)
"""What the property found (test_chain_found.py has each as a plain chain), always among the fast run's chains: a
new ToewijzingNummer of the same product and day; a second request of one product, then a correction naming the
first; the same request again after its answer; a second request after one whose ReferentieAanbieder holds ``:``
(session 24: the keys joined with ``:`` took it for a 317 line's key)."""


CORRECTED_INGANG = [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Toewijs(0, "jaar", 22500, "01", ingang=-7)),
                    Step(1, Start(0, 0, False)), Step(0, Toewijs(1, "jaar", 18000, None, ingang=-7)),
                    Step(1, Stop(0, 0, "02")), Step(1, Toewijs(0, "jaar", 22500, "01"))]
"""An Ingangsdatum corrected (the zaak's startdatum, and a second 2.x product key bound to it), a new toewijzing
from that day (the product key the corrected one holds too: its own zaak), the first stopped, then corrected back
(refused: it would reopen the closed zaak). Always among the fast run's chains, beside what hypothesis draws."""


BY_PRODUCT = [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Toewijs(1, "jaar", 18000, None)),
              Step(1, Start(0, 0, False, by_product=True)), Step(0, Start(0, 0, False)),
              Step(1, Stop(1, 0, "02", by_product=True)), Step(1, Stop(2, 0, "02", by_product=True)),
              Step(1, Toewijs(0, "jaar", 22500, "01", ingang=-7)), Step(1, Start(0, 0, True, by_product=True))]
"""305/307 lines without a ToewijzingNummer (2.0's way, optional in 2.1) found by the product key two toewijzingen
share: a start goes to the toewijzing that named the key last (200002), a numbered start names it again for 200001,
so a stop without a number stops 200001; a product key never bound (a client without zaak, an Ingangsdatum whose
correction was refused) is StUF064. Always among the fast run's chains."""


WITHDRAWN_STOP = [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Start(0, -1, False)), Step(1, Stop(0, 0, "02")),
                  Step(1, Stop(0, -1, "02", withdraws=True)), Step(0, Toewijs(1, "jaar", 18000, None)),
                  Step(1, Stop(1, 0, "19", withdraws=True)), Step(0, Stop(1, 0, "19", withdraws=True)),
                  Step(1, Stop(1, 0, "19")), Step(1, Stop(1, -1, "31", withdraws=True)),
                  Step(0, Toewijs(2, "jaar", 22500, None)), Step(1, Toewijs(2, -1, 22500, "02")),
                  Step(0, Stop(2, -1, "02", withdraws=True))]
"""307s with StatusAanlevering 3 (spec 3, "A withdrawn stop of zorg"): the stop that closed the zaak withdrawn (refused,
StUF058: it would reopen), a stop withdrawn on an open zaak (the correcting status; the same again: no change; the
zaak stays open until a stop closes it), a withdrawal naming another RedenBeeindiging of the stop that closed it
(refused all the same), and one of a zaak a 301 closed (not sent). Always among the fast run's chains."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(12))
@example(steps=FOUND[0])
@example(steps=FOUND[1])
@example(steps=FOUND[2])
@example(steps=FOUND[3])
@example(steps=CORRECTED_INGANG)
@example(steps=BY_PRODUCT)
@example(steps=WITHDRAWN_STOP)
def test_any_chain_ends_in_the_state_its_events_describe(reference: Path, steps: list[Step]) -> None:
    run_chain(steps, note)


@pytest.mark.slow
@settings(max_examples=depth(250, 1000), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(30))
def test_longer_chains_end_in_the_state_their_events_describe(reference: Path, steps: list[Step]) -> None:
    """The same property deeper: longer chains, more of them (250 in `make test`; 1,000, about 45 s on two shared
    cores, in the nightly's ``OVERSTAP_DEPTH=long``)."""
    run_chain(steps, note)
