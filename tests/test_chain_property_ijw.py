"""Property: the 2.1 chain property (test_chain_property.py) with iJw chains beside the iWmo ones. Each event is drawn
as there and sent either as iWmo 2.1 or as its iJw 2.1 twin (chain_jeugd.py: the Jeugdwet namespaces, BerichtCode
and product categorie, every other value the same), interleaved, through one Converter and one ledger into one
reference receiver. So a Wmo and a Jeugdwet chain share client, beschikking, ToewijzingNummer, ReferentieAanbieder and
2.x product key (but for the categorie): they must stay apart (docs/canonical-spec.md 1, "Wmo and Jeugdwet never
share a zaak"), each ending in the state test_chain_property's oracle works out for its wet's events alone.

Each wet's chain is that property's ``Run`` (its events, messages, oracle and check), the Jeugdwet one's messages
made iJw, both looking at the receiver through a view that holds its wet's zaken only (a zaak of the other wet's
zaaktype, or a Jeugdwet zaak without the ``J`` in its identificatie, fails there), the Jeugdwet zaken under the
names the Wmo check asks for (JWTOEW as WMOTOEW, JWAANV as WMOAANV, the product code back to the Wmo one it was
made from): that check then asserts the same values, field by field.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chain_jeugd import CATEGORIE, jeugdwet
from chain_messages import FIRST_DAY
from clocks import StepClock
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from test_chain_property import (
    BY_PRODUCT,
    CORRECTED_INGANG,
    Offered,
    Run,
    Start,
    Step,
    Stop,
    Toewijs,
    Vraag,
    chains,
    registry,
)

from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter
from gateway.receiver import Receiver

WMO_NAMES = {"JWTOEW": "WMOTOEW", "JWAANV": "WMOAANV"}
WMO_CATEGORIE = {jw: wmo for wmo, jw in CATEGORIE.items()}


@dataclass
class WetView:
    """The reference receiver as one wet's chain sees it: its wet's zaken only."""

    receiver: Receiver
    jw: bool

    def receive(self, xml: bytes, soap_action: str) -> Any:
        return self.receiver.receive(xml, soap_action)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        mine: dict[str, dict[str, Any]] = {}
        for ident, zaak in self.receiver.snapshot().items():
            if zaak["zaaktype"].startswith("JW") != self.jw:
                continue
            assert ident.startswith("0384J") == self.jw, (ident, zaak["zaaktype"])  # spec 1: J after the gemeente
            mine[ident] = wmo_names(zaak) if self.jw else zaak
        return mine


def wmo_names(zaak: dict[str, Any]) -> dict[str, Any]:
    """A Jeugdwet zaak under the Wmo names its chain was made from: zaaktype, product categorie and code, and the
    toewijzing its resultaat names (``Toegewezen (zaak 0384JT200001)``: the Wmo oracle writes ``0384T``)."""
    zaak = copy.deepcopy(zaak)
    zaak["zaaktype"] = WMO_NAMES[zaak["zaaktype"]]
    if zaak["resultaat"] and "(zaak 0384" in zaak["resultaat"]["omschrijving"]:
        assert "(zaak 0384J" in zaak["resultaat"]["omschrijving"], zaak["resultaat"]
        zaak["resultaat"]["omschrijving"] = zaak["resultaat"]["omschrijving"].replace("(zaak 0384J", "(zaak 0384")
    extra = zaak["extraElementen"]
    if "product.code" in extra:
        extra["product.code"] = WMO_CATEGORIE[extra["product.code"][:2]] + extra["product.code"][2:]
    if "product.categorie" in extra:
        extra["product.categorie"] = WMO_CATEGORIE[extra["product.categorie"]]
    return zaak


@dataclass
class JeugdRun(Run):
    """test_chain_property's run whose every message is sent as its iJw twin."""

    def build(self, event: Any) -> Offered:
        offered = super().build(event)
        return Offered(offered.name + " (iJw)", jeugdwet(offered.xml), offered.apply)


@dataclass
class Twins:
    """An iWmo and an iJw chain through one Converter, one ledger and one receiver."""

    receiver: Receiver = field(default_factory=Receiver)
    runs: dict[bool, Run] = field(default_factory=dict)
    day: dt.date = FIRST_DAY

    def __post_init__(self) -> None:
        converter = Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())
        self.runs = {jw: (JeugdRun if jw else Run)(converter=converter, receiver=WetView(self.receiver, jw),
                                                    say=note) for jw in (False, True)}

    def step(self, step: Step, jw: bool) -> None:
        """The event in its wet's chain; then both chains checked (a message of one wet changes no zaak of the
        other's)."""
        self.day += dt.timedelta(days=step.days)
        for run in self.runs.values():
            run.day = self.day
        self.runs[jw].step(Step(0, step.event))
        self.runs[not jw].check()
        assert len(self.receiver.snapshot()) == sum(len(WetView(self.receiver, j).snapshot()) for j in (False, True))


@st.composite
def twin_chains(draw: st.DrawFn, max_size: int) -> list[tuple[Step, bool]]:
    """test_chain_property's chains, each step's wet drawn (True: iJw)."""
    steps = draw(chains(max_size))
    return list(zip(steps, draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps))), strict=True))


def run_chain(steps: list[tuple[Step, bool]]) -> Twins:
    twins = Twins()
    for step, jw in steps:
        twins.step(step, jw)
    return twins


TWINS = [(Step(0, Toewijs(0, "jaar", 22500, None)), False), (Step(0, Toewijs(0, "jaar", 18000, None)), True),
         (Step(0, Vraag(0, 1)), True), (Step(1, Toewijs(1, "jaar", 22500, None, r=1)), False),
         (Step(0, Toewijs(1, "jaar", 22500, None, r=1)), True), (Step(1, Start(0, 0, False, by_product=True)), True),
         (Step(0, Stop(1, 0, "02", by_product=True)), False), (Step(1, Stop(0, 0, "02")), False),
         (Step(1, Toewijs(0, "jaar", 22500, "01")), True)]
"""One client's toewijzing 200001 in both wetten (another volume), a request of the Jeugdwet only and a Wmo 301
naming its ReferentieAanbieder (it finds no Wmo request: it answers none), the Jeugdwet one answering it; a
Jeugdwet start without number found by its own product key, which the Jeugdwet 301 of 200002 bound last (the Wmo
key differs only in wet and categorie), a Wmo stop without number finding the Wmo 200002 the same way, the Wmo 200001
stopped and the Jeugdwet one corrected after: it is not closed."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=twin_chains(12))
@example(steps=TWINS)
@example(steps=[(step, True) for step in CORRECTED_INGANG])
@example(steps=[(step, at % 2 == 1) for at, step in enumerate(BY_PRODUCT)])
def test_any_wmo_and_jeugdwet_chain_end_apart_in_the_state_their_events_describe(
        reference: Path, steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)


@pytest.mark.slow
@settings(max_examples=depth(150, 600), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=twin_chains(30))
def test_longer_wmo_and_jeugdwet_chains_end_apart_in_the_state_their_events_describe(
        reference: Path, steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)
