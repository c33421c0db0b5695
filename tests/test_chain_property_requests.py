"""Property: any sequence of 3.2 requests and their answers, iWmo and iJw interleaved, converted through one
Converter and one ledger and delivered in order to the reference receiver, leaves every aanvraagzaak and
toewijzingzaak in the state the spec gives (oracle: chain_requests_oracle.py). What test_chain_property_32.py does
not draw: 317 lines that ask for a *new* product (answered by the 301 that creates a toewijzing of it), a 317
offered again under the same ReferentieAanbieder with other lines or another Omvang (a corrected 317), a
ReferentieAanbieder that a 315 and a 317 share (a 319 and a 301 for it), 301 lines with a RedenWijziging (which never
grant a new product), and every message's iJw twin (chain_jeugd.py) for the same client, numbers and references:
the Wmo and the Jeugdwet chain must stay apart.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chain_jeugd import jeugd_product, jeugdwet
from chain_messages import _add_after, _bytes, _one, _set
from chain_oracle import Expected, ymd
from chain_requests_oracle import RequestOracle
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_chain_property import Again, Delivery, Offered
from test_chain_property_32 import FIRST_DAY, _header, _template, message_301, message_315, message_319

REFERENTIES = ("VZ-1", "VZ:2", "VOW-1")
"""Any of them a 315's or a 317's: two requests of one client may share one (an aanbieder's error, spec 1)."""
NUMMERS = ("320001", "320002", "320003", "320004")
PRODUCT_OF = ("02A01", "02A01", "07A03", None)
"""The product of each toewijzing: the 315 asks for 02A01 (the fixture's), a new-product line for either; 320004 is
a generieke toewijzing (a Budget, no Product: CD079)."""
LINES = (("n", 0), ("n", 1), ("n", 2), ("p", "02A01"), ("p", "07A03"), ("p", "07A03"), ("p", None))
"""What a 317 line asks: to change toewijzing ``NUMMERS[i]``, or a new product (07A03 twice: two new-product lines
of one ReferentieAanbieder for one product, which the 301 cannot tell apart; None: a budget, as the JW317 fixture's
NieuwProduct)."""
VOLUME_315 = "4"  # the 315 fixture's Omvang


@dataclass(frozen=True)
class Vraag:
    """A 315 with one line (02A01) under ``REFERENTIES[r]``."""

    r: int
    jw: bool = False


@dataclass(frozen=True)
class Verzoek:
    """A 317 under ``REFERENTIES[r]`` with ``LINES[i]`` for each i of ``lines`` (changes first, as the XSD has
    them), each with Omvang ``volume`` (a budget line: Budget ``volume`` * 50000): offered again with other lines or
    volume, a corrected 317."""

    r: int
    lines: tuple[int, ...]
    volume: int
    jw: bool = False


@dataclass(frozen=True)
class Antwoord:
    """A 319 for ``REFERENTIES[r]``: afgewezen (reden 3) or in onderzoek."""

    r: int
    afgewezen: bool
    jw: bool = False


@dataclass(frozen=True)
class Toewijs:
    """A 301 line for toewijzing ``NUMMERS[n]`` (its product), naming ``REFERENTIES[r]`` or none; ``gewijzigd``:
    with RedenWijziging 14 (a correction, 3.2's 01, which never grants a new product)."""

    n: int
    r: int | None
    gewijzigd: bool = False
    jw: bool = False


@dataclass(frozen=True)
class Grant:
    """A 301 line creating a new toewijzing (a fresh ToewijzingNummer) of what the ``k``-th new-product line sent so
    far (modulo how many) asked for, in its wet, naming its ReferentieAanbieder: the answer a new-product line waits
    for, which drawing a 301 and a 317 apart seldom meets; ``gewijzigd`` as Toewijs's (then it grants nothing)."""

    k: int
    gewijzigd: bool = False


@dataclass(frozen=True)
class Correct:
    """The ``k``-th 317 built so far (modulo how many) offered again, corrected: Omvang ``volume``, and without its
    first line when ``drop`` (and it has another); the same ReferentieAanbieder, a later Dagtekening."""

    k: int
    volume: int
    drop: bool

    def of(self, verzoek: Verzoek) -> Verzoek:
        lines = verzoek.lines[1:] if self.drop and len(verzoek.lines) > 1 else verzoek.lines
        return Verzoek(verzoek.r, lines, self.volume, verzoek.jw)


@dataclass(frozen=True)
class Reply:
    """A 319 for the ReferentieAanbieder of the ``k``-th 315 or 317 built so far (modulo how many), in its wet:
    drawn apart, most 319s name no request of their wet and are refused, so a refusal or an in-onderzoek of an
    open request is seldom drawn."""

    k: int
    afgewezen: bool


@dataclass(frozen=True)
class Step:
    days: int
    event: Vraag | Verzoek | Antwoord | Toewijs | Grant | Correct | Reply | Again


RS, NS, JW = st.integers(0, len(REFERENTIES) - 1), st.integers(0, len(NUMMERS) - 1), st.booleans()
EVENTS = st.one_of(
    st.builds(Vraag, RS, JW),
    st.builds(Verzoek, RS, st.lists(st.integers(0, len(LINES) - 1), min_size=1, max_size=3, unique=True).map(
        lambda lines: tuple(sorted(lines))), st.sampled_from([5, 6]), JW),
    st.builds(Antwoord, RS, st.booleans(), JW),
    st.builds(Toewijs, NS, st.sampled_from([None, *range(len(REFERENTIES))]), st.booleans(), JW),
    st.builds(Grant, st.integers(0, 5), st.sampled_from([False, False, True])),
    st.builds(Correct, st.integers(0, 5), st.sampled_from([5, 6, 7]), st.booleans()),
    st.builds(Reply, st.integers(0, 5), st.booleans()),
    st.builds(Again, st.integers(0, 20)),
)


def chains(max_size: int) -> st.SearchStrategy[list[Step]]:
    return st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=max_size)


def message_317(ident: str, day: dt.date, referentie: str, lines: list[tuple[str, Any]], volume: int) -> bytes:
    """A 317 of ReferentieAanbieder ``referentie``: a TeWijzigenProduct for each ``("n", nummer)``, a NieuwProduct
    for each ``("p", product code)``, in that order, each with Omvang ``volume`` (the fixture's other values); a
    NieuwProduct of product None asks for a budget (:func:`budget`)."""
    root = _template("WMO317_verzoek_wijziging.xml")
    _header(root, ident, day)
    ongewijzigd = _one(root, "OngewijzigdeProducten")
    ongewijzigd.getparent().remove(ongewijzigd)
    groups = {"n": _one(root, "TeWijzigenProducten"), "p": _one(root, "NieuweProducten")}
    models = {"n": _one(root, "TeWijzigenProduct"), "p": _one(root, "NieuwProduct")}
    for group, model in zip(groups.values(), models.values(), strict=True):
        group.remove(model)
    for kind, value in lines:
        line = copy.deepcopy(models[kind])
        groups[kind].append(line)
        _set(root, "Volume", str(volume), line)
        if kind == "n":
            _set(root, "ToewijzingNummer", value, line)
        elif value is None:
            budget(line, volume)
        else:
            _set(root, "Categorie", value[:2], line)
            _set(root, "Code", value, line)
    for group in groups.values():
        if not len(group):
            group.getparent().remove(group)
    _set(root, "ReferentieAanbieder", referentie)
    return _bytes(root)


def budget(line: etree._Element, volume: int) -> None:
    """Make ``line`` (a NieuwProduct or ToegewezenProduct) a generieke one: no Product, no Omvang, a Budget of
    ``volume`` * 50000 eurocent after its Einddatum (CD079: Product unless Budget; CD077/CD078)."""
    for local in ("Product", "Omvang"):
        element = _one(line, local)
        element.getparent().remove(element)
    _add_after(_one(line, "Einddatum"), "Budget", str(volume * 50000))


def message_301_of(ident: str, day: dt.date, moment: dt.datetime, nummer: str, referentie: str | None,
                   product: str | None, gewijzigd: bool) -> bytes:
    """The 3.2 property's 301 line (test_chain_property_32.message_301) for ``product`` (None: a budget), with
    RedenWijziging 14 after its Einddatum when ``gewijzigd``."""
    root = etree.fromstring(message_301(ident, day, moment, nummer, referentie))
    if product is None:
        budget(_one(root, "ToegewezenProduct"), 3)
    else:
        _set(root, "Categorie", product[:2])
        _set(root, "Code", product)
    if gewijzigd:
        _add_after(_one(root, "Einddatum"), "RedenWijziging", "14")
    return _bytes(root)


@dataclass
class Run(Delivery):
    """A chain of 3.2 request events of both wetten, an oracle for each beside it."""

    oracles: dict[str, RequestOracle] = field(default_factory=lambda: {w: RequestOracle(w) for w in ("wmo", "jw")})
    day: dt.date = FIRST_DAY
    asked: list[tuple[bool, str, str | None]] = field(default_factory=list)
    """(jw, ReferentieAanbieder, product) of every new-product line built, for :class:`Grant`."""
    verzoeken: list[Verzoek] = field(default_factory=list)  # every 317 built, for :class:`Correct`
    referenties: list[tuple[int, bool]] = field(default_factory=list)  # (r, jw) of every 315 and 317 built: Reply

    def build(self, event: Vraag | Verzoek | Antwoord | Toewijs | Grant) -> Offered:
        self.count += 1
        day, ident, dag = self.day, f"pr{self.count:010d}", ymd(self.day)
        if isinstance(event, Grant):
            jw, ref, code = self.asked[event.k % len(self.asked)]
            return self.toewijzing(Toewijs(0, None, event.gewijzigd, jw), f"33{self.count:04d}", ref, code, event)
        wet = "jw" if event.jw else "wmo"
        name = f"#{self.count} {event}"

        def product(code: str | None) -> str | None:  # the code as the wet's message carries it
            return jeugd_product(code) if event.jw and code is not None else code

        def offered(xml: bytes, apply: Any) -> Offered:
            return Offered(name, jeugdwet(xml) if event.jw else xml, lambda oracles: apply(oracles[wet]))

        if isinstance(event, Vraag | Verzoek):
            self.referenties.append((event.r, event.jw))
        if isinstance(event, Vraag):
            ref = REFERENTIES[event.r]
            return offered(message_315(ident, day, ref), lambda o: o.vraag(dag, ref, None, product("02A01"),
                                                                            VOLUME_315))
        if isinstance(event, Verzoek):
            ref = REFERENTIES[event.r]
            lines = [(kind, NUMMERS[value] if kind == "n" else value) for kind, value in map(LINES.__getitem__,
                                                                                              event.lines)]
            lines.sort(key=lambda line: line[0] != "n")  # TeWijzigenProducten before NieuweProducten
            self.verzoeken.append(event)
            self.asked += [(event.jw, ref, value) for kind, value in lines if kind == "p"]
            volume = str(event.volume)
            return offered(message_317(ident, day, ref, lines, event.volume), lambda o: o.message([
                lambda place=place, kind=kind, value=value: o.vraag(
                    dag, ref, value if kind == "n" else f"nieuw{place}", None if kind == "n" else product(value),
                    volume, value if kind == "n" else None, budget=kind == "p" and value is None)
                for place, (kind, value) in enumerate(lines, 1)]))
        if isinstance(event, Antwoord):
            ref, afgewezen = REFERENTIES[event.r], event.afgewezen
            return offered(message_319(ident, day, ref, afgewezen), lambda o: o.antwoord(dag, ref, afgewezen))
        return self.toewijzing(event, NUMMERS[event.n], None if event.r is None else REFERENTIES[event.r],
                               PRODUCT_OF[event.n], event)

    def toewijzing(self, event: Toewijs, nummer: str, ref: str | None, code: str | None, drawn: object) -> Offered:
        """The 301 of ``event`` for toewijzing ``nummer`` of product ``code`` (the Wmo code), naming ``ref``;
        ``drawn``: the event as drawn, for its name."""
        day, ident, wet = self.day, f"pr{self.count:010d}", "jw" if event.jw else "wmo"
        moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
        at, reden = moment.strftime("%Y%m%d%H%M%S"), "14" if event.gewijzigd else None
        xml = message_301_of(ident, day, moment, nummer, ref, code, event.gewijzigd)
        own = jeugd_product(code) if event.jw and code is not None else code
        return Offered(f"#{self.count} {drawn} {nummer} {ref}", jeugdwet(xml) if event.jw else xml,
                       lambda oracles: oracles[wet].toewijs(nummer, at, ref, own, reden))

    def resolve(self, event: object) -> Any:
        """The event a Correct or a Reply stands for (a Grant is built as it is), or None while the chain holds
        nothing it could name."""
        if isinstance(event, Correct):
            return event.of(self.verzoeken[event.k % len(self.verzoeken)]) if self.verzoeken else None
        if isinstance(event, Reply):
            if not self.referenties:
                return None
            r, jw = self.referenties[event.k % len(self.referenties)]
            return Antwoord(r, event.afgewezen, jw)
        return None if isinstance(event, Grant) and not self.asked else event

    def step(self, step: Step) -> None:
        self.day += dt.timedelta(days=step.days)
        event = self.resolve(step.event)
        offered = None if event is None else self.offer(event, self.build)
        if offered is None:
            return
        expected: Expected = offered.apply(self.oracles)
        note(f"{offered.name} ({self.day}): expected {expected}")
        if self.deliver(offered, expected, refused_field=None):
            self.check()

    def check(self) -> None:
        """Every zaak of either oracle, found by the identificatie spec 1 gives its key, as the oracle says; no
        other zaak (a Jeugdwet message that touched a Wmo zaak, or made one, fails here)."""
        for wet, oracle in self.oracles.items():
            for key, want in oracle.requests.items():
                zaak = self.zaak(oracle.ident(key), "JWAANV" if wet == "jw" else "WMOAANV")
                resultaat = (zaak["resultaat"] or {}).get("omschrijving")
                assert (zaak["einddatum"], resultaat) == (want.einddatum, want.resultaat), key
                assert [(s["statustype"], s["datumStatusGezet"]) for s in zaak["statussen"]] == want.statussen, key
                assert zaak["heeftBetrekkingOpAndere"] == want.andere, key
                extra = zaak["extraElementen"]
                assert (extra.get("product.code"), extra.get("product.omvang.volume"), extra.get("product.budget")) == (
                    want.product, want.volume, want.budget), key
                assert {"kenmerk": key[0], "bron": "ReferentieAanbieder"} in zaak["kenmerken"], key
            for nummer, toewijzing in oracle.toewijzingen.items():
                zaak = self.zaak(oracle.toewijzing_ident(nummer), "JWTOEW" if wet == "jw" else "WMOTOEW")
                extra = zaak["extraElementen"]
                assert (extra.get("toewijzing.tijdstip"), extra.get("toewijzing.reden_wijziging")) == (
                    toewijzing.moment, toewijzing.reden), nummer
                refs = [k["kenmerk"] for k in zaak["kenmerken"] if k["bron"] == "ReferentieAanbieder"]
                assert refs == ([toewijzing.referentie] if toewijzing.referentie else []), nummer
                assert zaak["heeftBetrekkingOpAndere"] == toewijzing.andere, nummer
        assert len(self.receiver.snapshot()) == sum(len(o.requests) + len(o.toewijzingen)
                                                    for o in self.oracles.values())

    def zaak(self, identificatie: str, zaaktype: str) -> dict[str, Any]:
        zaak = self.receiver.zaak(identificatie)
        assert zaak is not None, identificatie
        assert zaak["zaaktype"] == zaaktype, identificatie
        return zaak


def run_chain(steps: list[Step]) -> Run:
    run = Run()
    for step in steps:
        run.step(step)
    return run


SHARED = [Step(0, Vraag(0)), Step(0, Verzoek(0, (0, 4), 5)), Step(1, Toewijs(0, None)), Step(1, Verzoek(0, (0, 4), 6)),
          Step(1, Toewijs(2, 0)), Step(1, Antwoord(0, True)), Step(0, Toewijs(0, 0))]
"""A 315 and a 317 under one ReferentieAanbieder: the 317 asks to change 320001 (not yet held: no link) and for
07A03; corrected (Omvang 6); 320003 of 07A03 created naming it answers the new-product line and the 315 (not the
change line); the 319 refuses what is left (the change line), and a 301 for 320001 naming it afterwards answers
nothing."""

NEW_PRODUCT = [Step(0, Verzoek(2, (3, 4, 5), 5)), Step(1, Verzoek(2, (4,), 6)), Step(1, Toewijs(2, 2)),
               Step(0, Toewijs(0, 2, gewijzigd=True)), Step(1, Toewijs(1, 2)), Step(1, Antwoord(2, True))]
"""New-product lines: 02A01, and 07A03 twice (the later, ``nieuw3``, holds the key); corrected to one line, 07A03 at
place 1 (``nieuw1``, a new request: the first place's product changed, so its key); 320003 of 07A03 answers
``nieuw1``; 320001 with a RedenWijziging grants nothing new; 320002 (02A01, created) answers ``nieuw1`` of 02A01
no more (it asks for 07A03 now) and so nothing; the 319 refuses what is open."""

TWINS = [Step(0, Vraag(1)), Step(0, Vraag(1, jw=True)), Step(1, Toewijs(0, 1, jw=True)), Step(0, Verzoek(1, (1,), 5)),
         Step(1, Antwoord(1, True)), Step(0, Toewijs(0, 1)), Step(1, Antwoord(1, False, jw=True))]
"""The iWmo and the iJw chain of one client under the same ReferentieAanbieder and ToewijzingNummer: each answers
and refuses its own wet's requests only."""


BUDGET = [Step(0, Verzoek(2, (6,), 5)), Step(1, Toewijs(0, 2)), Step(1, Grant(0)), Step(1, Antwoord(2, True))]
"""What the property found (test_chain_found.py has it as a plain chain): a 317 line asking for a budget (no
Product) answered by the 301 creating a generieke toewijzing under its ReferentieAanbieder, not by one of a
product; the 319 after it finds it closed. Always among the fast run's chains."""


CHANGED_NOT_GRANTED = [Step(0, Verzoek(2, (3,), 5)), Step(0, Toewijs(0, None)), Step(1, Toewijs(0, 2)),
                       Step(1, Reply(0, False)), Step(1, Reply(0, True))]
"""A 317 asking anew for 02A01, and a 301 naming its ReferentieAanbieder that *changes* toewijzing 320001 of 02A01
(created before without one): it grants nothing new, the request stays open; in onderzoek leaves it open, the
refusal closes it. Always among the fast run's chains."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(12))
@example(steps=SHARED)
@example(steps=NEW_PRODUCT)
@example(steps=TWINS)
@example(steps=BUDGET)
@example(steps=CHANGED_NOT_GRANTED)
def test_any_request_chain_of_either_wet_ends_in_the_state_its_events_describe(reference: Path,
                                                                               steps: list[Step]) -> None:
    run_chain(steps)


@pytest.mark.slow
@settings(max_examples=depth(200, 800), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(30))
def test_longer_request_chains_of_either_wet_end_in_the_state_their_events_describe(reference: Path,
                                                                                    steps: list[Step]) -> None:
    run_chain(steps)
