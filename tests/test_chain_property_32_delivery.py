"""Property: iWmo and iJw 3.2 chains of toewijzingen and the start and stop of their zorg (301, 305 start, its
withdrawal, a correction, 307 stop, any of them again), each event sent as iWmo 3.2 or as its iJw 3.2 twin
(chain_jeugd.py), through one Converter and one ledger into one reference receiver, leave every zaak in the state
test_chain_property's oracle (tests/chain_oracle.py, docs/canonical-spec.md 3 and 7) works out for its wet's events.

In 3.x every line names its ToewijzingNummer (notes/message-structures.md 6: "treat it as required in 3.x"), the
301 has no BeschikkingNummer, and a 305/307 line's StatusAanlevering is 1 or 3 only (CS058; notes/codelists.md 6).
So a correction of a start is sent as the 2.x samples send it (CasusE-01 correctie: the old Begindatum with 3, the
new one with 1, in one message; CasusF-01 verwijderen: 3 alone; CasusF-02 nieuwe aanlevering: 1 again), which the
spec's table gives as "Of a start and its withdrawal only the one set last counts: each is sent unless it is already
the zaak's latest word on that date" (section 3). A 307 after a 305 closes the zaak (section 3, "End of a zaak"); a
305 after it changes nothing ("A closed zaak takes no change").

The chains reuse the 2.1 property's toewijzingen, run, check and oracle (test_chain_property.Run, its check field by
field), and the iJw property's view of one wet (test_chain_property_ijw.WetView); only the messages are 3.2.
Choices, where the spec is silent: RedenWijziging 13 (3.x's own ending code) is not drawn, since the shared oracle
holds 2.1's ending list; a 307 line with StatusAanlevering 3 (withdrawing a stop) is not drawn (a stop closes the
zaak, and the spec names the withdrawal of a start only).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chain_jeugd import jeugdwet
from chain_messages import FIRST_DAY, LAST_DAY, Toewijzing, _add_after, _bytes, _one, _set
from chain_oracle import GESTART, GESTOPT, INGETROKKEN, Expected, Oracle, ymd
from clocks import StepClock
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_chain_property import TOEWIJZINGEN, Again, Offered, Run, registry
from test_chain_property_ijw import WetView

from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter
from gateway.receiver import Receiver

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"
NOT_ENDING = (None, "04", "05")  # 3.2 RedenWijziging (WJ, 02-14) that correct a toewijzing: longer, shorter
ENDING_32 = ("02", "06", "07", "09")  # that end it (and 13: see the module docstring)
REDEN_BEEINDIGING = ("02", "20", "31")  # in both the iWmo and the iJw 3.2 lists (gateway/model/version_table.py)


@dataclass(frozen=True)
class Toewijs:
    """A 3.2 301 line for toewijzing ``t``: ``einde`` days from the Dagtekening, or "jaar" (LAST_DAY)."""

    t: int
    einde: int | str
    volume: int
    reden: str | None
    same_moment: bool = False


@dataclass(frozen=True)
class Start:
    """A 3.2 305 line: delivery started ``begin`` days from the Dagtekening (StatusAanlevering 1), or withdrawn (3)."""

    t: int
    begin: int
    withdraws: bool


@dataclass(frozen=True)
class Correct:
    """A 3.2 305 correcting a start (CasusE-01's way): a line withdrawing ``old`` (3), one starting ``new`` (1)."""

    t: int
    old: int
    new: int


@dataclass(frozen=True)
class Stop:
    """A 3.2 307 line: delivery stopped ``einde`` days from the Dagtekening, with its RedenBeeindiging."""

    t: int
    einde: int
    reden: str


@dataclass(frozen=True)
class Step:
    days: int
    event: Toewijs | Start | Correct | Stop | Again


TS = st.integers(0, len(TOEWIJZINGEN) - 1)
OFFSETS = st.sampled_from([-5, -2, 0])
EVENTS = st.one_of(
    st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14, "jaar"]), st.sampled_from([4, 6]), st.sampled_from(NOT_ENDING),
              st.booleans()),
    st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14]), st.just(4), st.sampled_from(ENDING_32), st.booleans()),
    st.builds(Start, TS, OFFSETS, st.booleans()),
    st.builds(Correct, TS, OFFSETS, OFFSETS),
    st.builds(Stop, TS, st.sampled_from([-1, 0]), st.sampled_from(REDEN_BEEINDIGING)),
    st.builds(Again, st.integers(0, 20)),
)


@st.composite
def chains(draw: st.DrawFn, max_size: int) -> list[tuple[Step, bool]]:
    """Some toewijzingen created first, then any events; each step's wet drawn (True: iJw)."""
    first = draw(st.lists(TS, unique=True, max_size=len(TOEWIJZINGEN)))
    steps = [Step(0, Toewijs(t, "jaar", 4, None)) for t in first] + draw(
        st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=max_size))
    return list(zip(steps, draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps))), strict=True))


# ---------------------------------------------------------------- 3.2 messages: the fixtures with values set by lxml


def _template(name: str, t: Toewijzing, ident: str, day: dt.date) -> etree._Element:
    root = etree.fromstring((FIXTURES / name).read_bytes())
    _set(root, "Identificatie", ident)
    _set(root, "Dagtekening", day.isoformat())
    _set(root, "Bsn", t.bsn)
    _set(root, "ToewijzingNummer", t.nummer)
    _set(root, "Categorie", t.code[:2])
    _set(root, "Code", t.code, _one(root, "Product"))
    return root


def message_301(t: Toewijzing, ident: str, day: dt.date, moment: dt.datetime, einde: dt.date, volume: int,
                reden: str | None) -> bytes:
    """One ToegewezenProduct from FIRST_DAY to ``einde``, naming no request (its ReferentieAanbieder removed)."""
    root = _template("WMO301_toewijzing_specifiek.xml", t, ident, day)
    ref = _one(root, "ReferentieAanbieder")
    ref.getparent().remove(ref)
    for local, value in (("Toewijzingsdatum", moment.date().isoformat()), ("Toewijzingstijd", f"{moment:%H:%M:%S}"),
                         ("Ingangsdatum", FIRST_DAY.isoformat()), ("Einddatum", einde.isoformat()),
                         ("Volume", str(volume))):
        _set(root, local, value)
    if reden is not None:
        _add_after(_one(root, "Einddatum"), "RedenWijziging", reden)
    return _bytes(root)


def message_305(t: Toewijzing, ident: str, day: dt.date, lines: list[tuple[dt.date, str]]) -> bytes:
    """A StartProduct per (Begindatum, StatusAanlevering) of ``lines``, in order."""
    root = _template("WMO305_start.xml", t, ident, day)
    first = _one(root, "StartProduct")
    _set(root, "ToewijzingIngangsdatum", FIRST_DAY.isoformat())
    anchor = first
    for at, (begin, status) in enumerate(lines):
        line = first if at == 0 else etree.fromstring(etree.tostring(first))
        if at:
            anchor.addnext(line)
            anchor = line
        _set(root, "Begindatum", begin.isoformat(), line)
        _set(root, "StatusAanlevering", status, line)
    return _bytes(root)


def message_307(t: Toewijzing, ident: str, day: dt.date, einde: dt.date, reden: str) -> bytes:
    root = _template("WMO307_stop.xml", t, ident, day)
    for local, value in (("ToewijzingIngangsdatum", FIRST_DAY.isoformat()), ("Begindatum", FIRST_DAY.isoformat()),
                         ("Einddatum", einde.isoformat()), ("RedenBeeindiging", reden)):
        _set(root, local, value)
    return _bytes(root)


# ---------------------------------------------------------------- running a chain


def _on(day: dt.date, offset: int) -> dt.date:
    """A date ``offset`` days from ``day``, never before FIRST_DAY (the Ingangsdatum of every toewijzing)."""
    return max(FIRST_DAY, day + dt.timedelta(days=offset))


Apply = Callable[[Oracle], Expected]


def _lines(*lines: Callable[[Oracle], Expected]) -> Apply:
    """A message of ``lines`` to the oracle: all or nothing (:meth:`chain_oracle.Oracle.message`)."""
    return lambda o: o.message([functools.partial(line, o) for line in lines])


class Run32(Run):
    """test_chain_property's run (its oracle, delivery and check) whose messages are iWmo 3.2."""

    jw: bool = False

    def build(self, event: Any) -> Offered:
        self.count += 1
        t, ident = TOEWIJZINGEN[event.t], f"d32{self.count:09d}"
        name = f"#{self.count} {type(event).__name__.lower()} {t.nummer}" + (" (iJw)" if self.jw else "")
        xml, apply = self.message(event, t, ident, self.day, ymd(self.day), ymd(FIRST_DAY))
        return Offered(name, jeugdwet(xml) if self.jw else xml, apply)

    def message(self, event: Any, t: Toewijzing, ident: str, day: dt.date, dag: str, ingang: str
                ) -> tuple[bytes, Apply]:
        """The 3.2 message of ``event`` and what it means to the oracle."""
        if isinstance(event, Toewijs):
            einde = LAST_DAY if event.einde == "jaar" else _on(day, int(event.einde))
            moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
            if event.same_moment:
                moment = self.moments.get(t.nummer, moment)
            self.moments[t.nummer] = moment
            at, volume = moment.strftime("%Y%m%d%H%M%S"), str(event.volume)
            return message_301(t, ident, day, moment, einde, event.volume, event.reden), _lines(
                lambda o: o.toewijs(t, dag, at, ymd(einde), volume, event.reden, None, ingang))
        if isinstance(event, Start):
            begin = _on(day, event.begin)
            status, opposite = (INGETROKKEN, GESTART) if event.withdraws else (GESTART, INGETROKKEN)
            return message_305(t, ident, day, [(begin, "3" if event.withdraws else "1")]), _lines(
                lambda o: o.delivery(t, dag, status, ymd(begin), opposite, None, ingang))
        if isinstance(event, Correct):
            old, new = _on(day, event.old), _on(day, event.new)
            return message_305(t, ident, day, [(old, "3"), (new, "1")]), _lines(
                lambda o: o.delivery(t, dag, INGETROKKEN, ymd(old), GESTART, None, ingang),
                lambda o: o.delivery(t, dag, GESTART, ymd(new), INGETROKKEN, None, ingang))
        einde = _on(day, event.einde)
        return message_307(t, ident, day, einde, event.reden), _lines(
            lambda o: o.delivery(t, dag, GESTOPT, ymd(einde), None, f"RedenBeeindiging {event.reden}", ingang))


class JeugdRun32(Run32):
    jw = True


class Twins32:
    """An iWmo and an iJw 3.2 chain through one Converter, one ledger and one receiver."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        self.day = FIRST_DAY
        converter = Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())
        self.runs: dict[bool, Run32] = {jw: (JeugdRun32 if jw else Run32)(
            converter=converter, receiver=WetView(self.receiver, jw), say=note) for jw in (False, True)}

    def step(self, step: Step, jw: bool) -> None:
        """The event in its wet's chain; then both chains checked (one wet's message changes no zaak of the other)."""
        self.day += dt.timedelta(days=step.days)
        for run in self.runs.values():
            run.day = self.day
        self.runs[jw].step(Step(0, step.event))
        self.runs[not jw].check()

    def converted(self) -> int:
        return sum(run.count for run in self.runs.values())


def run_chain(steps: list[tuple[Step, bool]]) -> Twins32:
    twins = Twins32()
    for step, jw in steps:
        twins.step(step, jw)
    return twins


CORRECTED_START = [(Step(0, Toewijs(0, "jaar", 4, None)), False), (Step(0, Toewijs(0, "jaar", 4, None)), True),
                   (Step(3, Start(0, -2, False)), False), (Step(0, Start(0, 0, False)), True),
                   (Step(1, Correct(0, -3, 0)), False), (Step(0, Start(0, -3, True)), True),
                   (Step(1, Start(0, -4, False)), False), (Step(1, Again(2)), False),
                   (Step(1, Stop(0, 0, "02")), False), (Step(0, Start(0, 0, False)), False),
                   (Step(1, Toewijs(1, "jaar", 4, None)), True), (Step(0, Stop(1, 0, "20")), True)]
"""The samples' story in 3.2, one toewijzing in both wetten: started, the start corrected (E-01: the old date
withdrawn, the new one started, one message), withdrawn alone (F-01), started again (F-02), the first start resent
(older than the state held: not sent), stopped (307 after 305, the zaak closed), a start after the stop (closed:
no change); a 307 for an iJw toewijzing never started."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(12))
@example(steps=CORRECTED_START)
def test_any_32_start_and_stop_chain_ends_in_the_state_its_events_describe(reference: Path,
                                                                           steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(30))
def test_longer_32_start_and_stop_chains_end_in_the_state_their_events_describe(
        reference: Path, steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)
