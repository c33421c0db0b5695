"""Property: any sequence of iWmo 3.2 requests and their answers (315, a 317 asking to change a toewijzing, 319
afgewezen or in onderzoek, a 301 that names the request by ReferentieAanbieder, or none, any of them again),
converted through one Converter and one ledger and delivered in order to the reference receiver, leaves every
aanvraagzaak and toewijzingzaak in the state the spec gives (docs/canonical-spec.md 1, "Links", "An answered
aanvraag is closed", "A refused aanvraag is closed too"). Hypothesis notes each message and what the oracle expected.

The messages are the 3.2 fixtures (tests/fixtures/iwmo32) with values set by lxml, for one client and product. The
315s' ReferentieAanbieders are a plain one, one holding ``:`` (the character chain keys are joined with), one
holding what ``:`` is escaped to in a key (``%3A``), and one that is the 317 line's key (``VOW-1:320001``): pairs
whose keys would meet were the escaping wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chain_messages import _bytes, _one, _set
from chain_oracle import AFGEHANDELD, Expected, _gezet_after, ymd
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_chain_property import Again, Delivery, Offered, aanvraagzaak

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"
REFERENTIES = ("VZ-1", "VZ:2", "VZ%3A2", "VOW-1:320001", "VOW-1")
"""The first four a 315's, the last the 317's: ``VOW-1:320001`` and the 317 line of ``VOW-1`` asking to change
toewijzing 320001 would share a key were ``:`` not escaped in it."""
VOW = len(REFERENTIES) - 1
NUMMERS = ("320001", "320002")
FIRST_DAY = dt.date(2023, 2, 10)
AFGEWEZEN = "Afgewezen: geen contract (3)"


@dataclass(frozen=True)
class Vraag:
    """A 315 with one line, under ReferentieAanbieder ``REFERENTIES[r]``."""

    r: int


@dataclass(frozen=True)
class Antwoord:
    """A 319 for ``REFERENTIES[r]``: VerzoekAntwoord 1 (afgewezen, reden 3 geen contract) or 2 (in onderzoek)."""

    r: int
    afgewezen: bool


@dataclass(frozen=True)
class Wijziging:
    """A 317 of ReferentieAanbieder ``REFERENTIES[VOW]`` with one line: change toewijzing ``NUMMERS[n]``."""

    n: int


@dataclass(frozen=True)
class Toewijs:
    """A 301 line for toewijzing ``NUMMERS[n]`` of the requested product, naming ``REFERENTIES[r]`` or none."""

    n: int
    r: int | None


@dataclass(frozen=True)
class Step:
    days: int
    event: Vraag | Wijziging | Antwoord | Toewijs | Again


RS = st.integers(0, len(REFERENTIES) - 1)
NS = st.integers(0, len(NUMMERS) - 1)
EVENTS = st.one_of(st.builds(Vraag, st.integers(0, VOW - 1)), st.builds(Wijziging, NS),
                   st.builds(Antwoord, RS, st.booleans()),
                   st.builds(Toewijs, NS, st.none() | RS),
                   st.builds(Again, st.integers(0, 20)))
CHAINS = st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=12)


def _template(name: str) -> etree._Element:
    return etree.fromstring((FIXTURES / name).read_bytes())


def _header(root: etree._Element, ident: str, day: dt.date) -> None:
    _set(root, "Identificatie", ident)
    _set(root, "Dagtekening", day.isoformat())


def message_315(ident: str, day: dt.date, referentie: str) -> bytes:
    root = _template("WMO315_verzoek.xml")
    _header(root, ident, day)
    first, second = [e for e in root.iter() if etree.QName(e).localname == "AangevraagdProduct"]
    second.getparent().remove(second)
    _set(root, "ReferentieAanbieder", referentie, first)
    return _bytes(root)


def message_317(ident: str, day: dt.date, referentie: str, nummer: str) -> bytes:
    root = _template("WMO317_verzoek_wijziging.xml")
    _header(root, ident, day)
    for local in ("OngewijzigdeProducten", "NieuweProducten"):
        element = _one(root, local)
        element.getparent().remove(element)
    _set(root, "ReferentieAanbieder", referentie)
    _set(root, "ToewijzingNummer", nummer)
    return _bytes(root)


def message_319(ident: str, day: dt.date, referentie: str, afgewezen: bool) -> bytes:
    root = _template("WMO319_verzoek_antwoord.xml")
    _header(root, ident, day)
    _set(root, "ReferentieAanbieder", referentie)
    _set(root, "VerzoekAntwoord", "1" if afgewezen else "2")
    if not afgewezen:  # WJ759 goes with a refusal only
        reden = _one(root, "RedenAfwijzingVerzoek")
        reden.getparent().remove(reden)
    return _bytes(root)


def message_301(ident: str, day: dt.date, moment: dt.datetime, nummer: str, referentie: str | None) -> bytes:
    root = _template("WMO301_toewijzing_specifiek.xml")
    _header(root, ident, day)
    _set(root, "ToewijzingNummer", nummer)
    _set(root, "Toewijzingsdatum", moment.date().isoformat())
    _set(root, "Toewijzingstijd", f"{moment:%H:%M:%S}")
    ref = _one(root, "ReferentieAanbieder")
    if referentie is None:
        ref.getparent().remove(ref)
    else:
        ref.text = referentie
    return _bytes(root)


@dataclass
class Aanvraag:
    as_of: str  # the Dagtekening of the 315 (and of it sent again)
    einddatum: str | None = None
    resultaat: str | None = None
    statussen: list[tuple[str, str]] = field(default_factory=list)
    andere: list[str] = field(default_factory=list)  # a 317 line's creeerZaak names the toewijzing, if known

    def close(self, day: str, resultaat: str) -> list[str]:
        self.einddatum, self.resultaat = day, resultaat
        self.statussen.append((AFGEHANDELD, _gezet_after([g for _, g in self.statussen], day)))
        return ["updateZaak", "actualiseerZaakstatus"]


@dataclass
class Oracle:
    """Spec 1: a new ReferentieAanbieder is a new request, a 317 line (ReferentieAanbieder, ToewijzingNummer) one of
    its own; the same 315 or 317 again (but for its Dagtekening) is no change; a 319 afgewezen closes the open
    request it names (a 315 line, or every line of the 317) with the 319's Dagtekening and "Afgewezen" plus the
    reden, unless dated before it; in onderzoek changes nothing; a closed request gets nothing; a 319 naming no
    known request is refused (StUF064). A 301 line naming a request (a 315's ReferentieAanbieder, or the 317's and
    the ToewijzingNummer its line asked to change) links its creeerZaak to it and closes it, if open and not
    registered after the toewijzing, with the Toewijzingsdatum and "Toegewezen (zaak ...)"; a line naming none
    answers nothing (3.2's 301 has no BeschikkingNummer, so no 2.x aanvraag-product key)."""

    aanvragen: dict[tuple[str, str | None], Aanvraag] = field(default_factory=dict)
    """By ReferentieAanbieder and, for a 317 line, the ToewijzingNummer it asks to change."""
    toewijzingen: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # nummer: (moment, referentie)
    andere: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    """By ToewijzingNummer: the request its creeerZaak names (heeftBetrekkingOpAndere)."""

    def vraag(self, day: str, referentie: str, nummer: str | None = None) -> Expected:
        held = self.aanvragen.get((referentie, nummer))
        if held is not None:
            held.as_of = max(held.as_of, day)
            return Expected()
        self.aanvragen[(referentie, nummer)] = Aanvraag(day, andere=[f"0384T{nummer}"] if nummer in self.toewijzingen
                                                        else [])  # spec 1, Links: "a 317 line links to ..."
        return Expected(["creeerZaak"])

    def antwoord(self, day: str, referentie: str, afgewezen: bool) -> Expected:
        named = [held for (ref, _), held in self.aanvragen.items() if ref == referentie]  # in order of creation
        if not named:
            return Expected(refused="StUF064")
        operations = []
        for held in named:
            if afgewezen and held.einddatum is None and day >= held.as_of:
                operations += held.close(day, AFGEWEZEN)
        return Expected(operations)

    def toewijs(self, nummer: str, moment: str, referentie: str | None) -> Expected:
        before = self.toewijzingen.get(nummer)
        named = next((key for key in ((referentie, None), (referentie, nummer)) if key in self.aanvragen), None)
        if before is None:
            operations = ["creeerZaak"]
            self.andere[nummer] = [named] if named else []
        else:  # no change, or older than the state held (spec 3): not sent; the request it names still answered
            operations = [] if before == (moment, referentie) or moment < before[0] else ["updateZaak"]
        if operations:
            self.toewijzingen[nummer] = (moment, referentie)
        held = self.aanvragen.get(named) if named else None
        if held is not None and held.einddatum is None and moment[:8] >= held.as_of:
            operations += held.close(moment[:8], f"Toegewezen (zaak 0384T{nummer})")
        return Expected(operations)


@dataclass
class Run(Delivery):
    """A chain of iWmo 3.2 request events, its oracle beside it."""

    oracle: Oracle = field(default_factory=Oracle)
    day: dt.date = FIRST_DAY

    def build(self, event: Vraag | Antwoord | Toewijs) -> Offered:
        self.count += 1
        day, ident, dag = self.day, f"p32{self.count:09d}", ymd(self.day)
        name = f"#{self.count} {event}"
        if isinstance(event, Vraag):
            ref = REFERENTIES[event.r]
            return Offered(name, message_315(ident, day, ref), lambda o: o.vraag(dag, ref))
        if isinstance(event, Wijziging):
            ref, nummer = REFERENTIES[VOW], NUMMERS[event.n]
            return Offered(name, message_317(ident, day, ref, nummer), lambda o: o.vraag(dag, ref, nummer))
        if isinstance(event, Antwoord):
            ref, afgewezen = REFERENTIES[event.r], event.afgewezen
            return Offered(name, message_319(ident, day, ref, afgewezen), lambda o: o.antwoord(dag, ref, afgewezen))
        moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
        nummer, ref = NUMMERS[event.n], None if event.r is None else REFERENTIES[event.r]
        at = moment.strftime("%Y%m%d%H%M%S")
        return Offered(name, message_301(ident, day, moment, nummer, ref), lambda o: o.toewijs(nummer, at, ref))

    def step(self, step: Step) -> None:
        self.day += dt.timedelta(days=step.days)
        offered = self.offer(step.event, self.build)
        if offered is None:
            return
        expected = offered.apply(self.oracle)  # a refusal it expects changes none of its state
        note(f"{offered.name} ({self.day}): expected {expected}")
        if self.deliver(offered, expected, refused_field=None):  # a 319 names no client: its field is its own
            self.check()

    def check(self) -> None:
        snapshot = list(self.receiver.snapshot().values())
        for (ref, nummer), want in self.oracle.aanvragen.items():
            zaak = request(snapshot, ref, nummer)
            resultaat = (zaak["resultaat"] or {}).get("omschrijving")
            assert (zaak["einddatum"], resultaat) == (want.einddatum, want.resultaat), ref
            assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == want.statussen, ref
            assert zaak["heeftBetrekkingOpAndere"] == want.andere, ref
        for nummer, (moment, ref) in self.oracle.toewijzingen.items():
            zaak: dict[str, Any] = self.receiver.zaak(f"0384T{nummer}")
            assert zaak is not None, nummer
            assert zaak["extraElementen"].get("toewijzing.tijdstip") == moment, nummer
            refs = [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ReferentieAanbieder"]
            assert refs == ([ref] if ref else []), nummer
            assert zaak["heeftBetrekkingOpAndere"] == [request(snapshot, *named)["identificatie"]
                                                       for named in self.oracle.andere[nummer]], nummer
        assert len(snapshot) == len(self.oracle.aanvragen) + len(self.oracle.toewijzingen)


def request(snapshot: list[dict[str, Any]], referentie: str, nummer: str | None) -> dict[str, Any]:
    """The aanvraagzaak of a 315 line (``nummer`` None) or of the 317 line asking to change toewijzing ``nummer``."""
    if nummer is None:
        return aanvraagzaak(snapshot, referentie)
    (zaak,) = [z for z in snapshot if z["zaaktype"] == "WMOAANV" and {"kenmerk": referentie, "bron":
               "ReferentieAanbieder"} in z["kenmerken"] and {"kenmerk": nummer, "bron": "ToewijzingNummer"}
               in z["kenmerken"]]
    return zaak


def run_chain(steps: list[Step]) -> Run:
    run = Run()
    for step in steps:
        run.step(step)
    return run


MEETING = [Step(0, Vraag(1)), Step(1, Toewijs(0, 1)), Step(1, Vraag(2)), Step(1, Antwoord(2, True)),
           Step(0, Antwoord(1, True)), Step(0, Vraag(3)), Step(1, Wijziging(0)), Step(0, Wijziging(1)),
           Step(1, Toewijs(0, VOW)), Step(1, Antwoord(VOW, True))]
"""Two requests whose keys would meet were ``:`` joined unescaped or its escape not escaped itself (``VZ:2`` and
``VZ%3A2``; ``VOW-1:320001`` and the 317 line of ``VOW-1`` for 320001): the first answered by a toewijzing, the
second refused, the refusal of the first changes nothing; the 317's line for 320001 answered by a correction of
that toewijzing, its other line refused by the 319."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=CHAINS)
@example(steps=MEETING)
def test_any_32_request_chain_ends_in_the_state_its_events_describe(reference: Path, steps: list[Step]) -> None:
    run_chain(steps)


@pytest.mark.slow
@settings(max_examples=depth(250, 1000), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=30))
def test_longer_32_request_chains_end_in_the_state_their_events_describe(reference: Path,
                                                                          steps: list[Step]) -> None:
    run_chain(steps)
