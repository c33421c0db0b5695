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
RedenWijziging 13, 3.x's own ending code, ends a toewijzing as 02/06/07/09 do (spec 3, "End of a zaak";
chain_oracle.ENDING_3X); StatusAanlevering 2 is drawn too and must be refused, and so must a 305 line without a
ToewijzingNummer. A 307 line with StatusAanlevering 3 withdraws a stop (spec 3, "A withdrawn stop of zorg";
chain_oracle.Oracle.withdraw_stop): the stop that closed the zaak withdrawn is refused (StUF058, would reopen), one on
a zaak closed otherwise is not sent, one on an open zaak sets the correcting status (session 25).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chain_jeugd import jeugdwet
from chain_messages import FIRST_DAY, LAST_DAY, Toewijzing, _add_after, _bytes, _one, _set
from chain_oracle import ENDING_3X, GESTART, GESTOPT, INGETROKKEN, Expected, Oracle, ymd
from clocks import StepClock
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_chain_property import PARTNER, TOEWIJZINGEN, Again, Offered, Run, registry
from test_chain_property_ijw import WetView

from gateway.ledger import MemoryLedger
from gateway.pipeline import FAILURES, Converter, describe
from gateway.receiver import Receiver

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo32"
NOT_ENDING = (None, "04", "05")  # 3.2 RedenWijziging (WJ, 02-14) that correct a toewijzing: longer, shorter
NOT_A_32_STATUS = "2"  # StatusAanlevering 2, "gewijzigde aanlevering" (COD467): not in a 3.2 305/307 (CS058)
REDEN_BEEINDIGING = ("02", "20", "31")  # in both the iWmo and the iJw 3.2 lists (gateway/model/version_table.py)


@dataclass(frozen=True)
class Toewijs:
    """A 3.2 301 line for toewijzing ``t``: ``einde`` days from the Dagtekening, or "jaar" (LAST_DAY)."""

    t: int
    einde: int | str
    volume: int
    reden: str | None
    same_moment: bool = False
    ingang: int = 0  # the Ingangsdatum, days from FIRST_DAY: another corrects it (and the zaak's startdatum)


@dataclass(frozen=True)
class Start:
    """A 3.2 305 line: delivery started ``begin`` days from the Dagtekening (StatusAanlevering 1), or withdrawn (3)."""

    t: int
    begin: int
    withdraws: bool
    pair: bool = False  # a second line, for the client's other toewijzing (test_chain_property.PARTNER)


@dataclass(frozen=True)
class Correct:
    """A 3.2 305 correcting a start (CasusE-01's way): a line withdrawing ``old`` (3), one starting ``new`` (1)."""

    t: int
    old: int
    new: int


@dataclass(frozen=True)
class Changed:
    """A 3.2 305 line with StatusAanlevering 2 (2.x's "gewijzigde aanlevering"): refused, 3.2 allows 1 and 3 only
    (notes/codelists.md 6, CS058), the message naming the field (StUF055, docs/mapping-reference.md 10: a code a
    value map does not know "rejects the message")."""

    t: int
    begin: int


@dataclass(frozen=True)
class Unnumbered:
    """A 3.2 305 line without its ToewijzingNummer (0..1 in the summaries, "treat it as required in 3.x", notes 6): a
    3.x line has no 2.x product key to be found by (spec 1, "Chain keys"), so no zaak is known for it (StUF064)."""

    t: int
    begin: int


@dataclass(frozen=True)
class Stop:
    """A 3.2 307 line: delivery stopped ``einde`` days from the Dagtekening, with its RedenBeeindiging."""

    t: int
    einde: int
    reden: str
    pair: bool = False
    withdraws: bool = False  # StatusAanlevering 3: the stop per ``einde`` withdrawn
    last: bool = False  # withdrawing the last stop built for its toewijzing (test_chain_property.Stop.last)


@dataclass(frozen=True)
class Step:
    days: int
    event: Toewijs | Start | Correct | Changed | Unnumbered | Stop | Again


TS = st.integers(0, len(TOEWIJZINGEN) - 1)
OFFSETS = st.sampled_from([-5, -2, 0])
EVENTS = st.one_of(
    st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14, "jaar"]), st.sampled_from([4, 6]), st.sampled_from(NOT_ENDING),
              st.booleans(), st.sampled_from([0, -7])),
    st.builds(Toewijs, TS, st.sampled_from([-3, 0, 14]), st.just(4), st.sampled_from(ENDING_3X), st.booleans()),
    st.builds(Start, TS, OFFSETS, st.booleans(), st.booleans()),
    st.builds(Correct, TS, OFFSETS, OFFSETS),
    st.builds(Changed, TS, OFFSETS),
    st.builds(Unnumbered, TS, OFFSETS),
    st.builds(Stop, TS, st.sampled_from([-1, 0]), st.sampled_from(REDEN_BEEINDIGING), st.booleans()),
    st.builds(Stop, TS, st.sampled_from([-1, 0]), st.sampled_from(REDEN_BEEINDIGING), st.booleans(), st.just(True),
              st.booleans()),
    st.builds(Again, st.integers(0, 20)),
)


@st.composite
def chains(draw: st.DrawFn, max_size: int) -> list[tuple[Step, bool]]:
    """Most toewijzingen created first in both wetten (a start or stop of one the wet never created is refused: a few
    are), then any events, each step's wet drawn (True: iJw)."""
    first = draw(st.lists(TS, unique=True, min_size=len(TOEWIJZINGEN) - 1, max_size=len(TOEWIJZINGEN)))
    steps = draw(st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=max_size))
    return [(Step(0, Toewijs(t, "jaar", 4, None)), jw) for t in first for jw in (False, True)] + list(
        zip(steps, draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps))), strict=True))


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
                reden: str | None, ingang: dt.date = FIRST_DAY) -> bytes:
    """One ToegewezenProduct from ``ingang`` to ``einde``, naming no request (its ReferentieAanbieder removed)."""
    root = _template("WMO301_toewijzing_specifiek.xml", t, ident, day)
    ref = _one(root, "ReferentieAanbieder")
    ref.getparent().remove(ref)
    for local, value in (("Toewijzingsdatum", moment.date().isoformat()), ("Toewijzingstijd", f"{moment:%H:%M:%S}"),
                         ("Ingangsdatum", ingang.isoformat()), ("Einddatum", einde.isoformat()),
                         ("Volume", str(volume))):
        _set(root, local, value)
    if reden is not None:
        _add_after(_one(root, "Einddatum"), "RedenWijziging", reden)
    return _bytes(root)


Line = dict[str, str]
"""One line of a 305/307: its toewijzing (``t``) and the values its elements get, by local name."""


def _repeat(root: etree._Element, local: str, lines: list[tuple[Toewijzing, Line]]) -> bytes:
    """The template's one ``local`` line, once for each of ``lines``, in order, with its values set."""
    first = _one(root, local)
    anchor = first
    for at, (t, values) in enumerate(lines):
        line = first if at == 0 else copy.deepcopy(first)
        if at:
            anchor.addnext(line)
            anchor = line
        _set(root, "ToewijzingNummer", t.nummer, line)
        _set(root, "Code", t.code, _one(line, "Product"))
        for name, value in values.items():
            _set(root, name, value, line)
    return _bytes(root)


def message_305(ident: str, day: dt.date, lines: list[tuple[Toewijzing, Line]]) -> bytes:
    """A StartProduct per line (Begindatum, StatusAanlevering, ToewijzingIngangsdatum), in order."""
    return _repeat(_template("WMO305_start.xml", lines[0][0], ident, day), "StartProduct", lines)


def message_307(ident: str, day: dt.date, lines: list[tuple[Toewijzing, Line]]) -> bytes:
    """A StopProduct per line (Einddatum, RedenBeeindiging, ToewijzingIngangsdatum, Begindatum), in order."""
    return _repeat(_template("WMO307_stop.xml", lines[0][0], ident, day), "StopProduct", lines)


# ---------------------------------------------------------------- running a chain


def _start(begin: dt.date, status: str, ingang: dt.date) -> Line:
    return {"Begindatum": begin.isoformat(), "StatusAanlevering": status, "ToewijzingIngangsdatum": ingang.isoformat()}


def _delivery(t: Toewijzing, dag: str, status: str, datum: str, opposite: str | None, stop: str | None,
              ingang: dt.date, o: Oracle) -> Expected:
    """A 305/307 line to the oracle: found by its ToewijzingNummer (3.x), whatever Ingangsdatum it names."""
    return o.delivery(t, dag, status, datum, opposite, stop, ymd(ingang))


def _withdraw_stop(t: Toewijzing, dag: str, datum: str, stop: str, ingang: dt.date, o: Oracle) -> Expected:
    """A 307 line with StatusAanlevering 3 to the oracle (:meth:`chain_oracle.Oracle.withdraw_stop`)."""
    return o.withdraw_stop(t, dag, datum, stop, ymd(ingang))


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
        ts = [TOEWIJZINGEN[event.t]] + ([TOEWIJZINGEN[PARTNER[event.t]]] if getattr(event, "pair", False)
                                        and event.t in PARTNER else [])
        name = (f"#{self.count} {type(event).__name__.lower()} {'+'.join(t.nummer for t in ts)}"
                + (" (iJw)" if self.jw else ""))
        xml, apply = self.message(event, ts, f"d32{self.count:09d}", self.day)
        return Offered(name, jeugdwet(xml) if self.jw else xml, apply)

    def message(self, event: Any, ts: list[Toewijzing], ident: str, day: dt.date) -> tuple[bytes, Apply]:
        """The 3.2 message of ``event`` for toewijzingen ``ts`` and what it means to the oracle. A 305/307 line names
        the Ingangsdatum of the last 301 built for its toewijzing (``self.ingang``)."""
        dag, t = ymd(day), ts[0]
        ingang = {u.nummer: self.ingang.get(u.nummer, FIRST_DAY) for u in ts}
        if isinstance(event, Toewijs):
            einde = LAST_DAY if event.einde == "jaar" else _on(day, int(event.einde))
            moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
            if event.same_moment:
                moment = self.moments.get(t.nummer, moment)
            self.moments[t.nummer] = moment
            start = self.ingang[t.nummer] = FIRST_DAY + dt.timedelta(days=event.ingang)
            at, volume = moment.strftime("%Y%m%d%H%M%S"), str(event.volume)
            return message_301(t, ident, day, moment, einde, event.volume, event.reden, start), _lines(
                lambda o: o.toewijs(t, dag, at, ymd(einde), volume, event.reden, None, ymd(start)))
        if isinstance(event, Start):
            begin = _on(day, event.begin)
            status, opposite = (INGETROKKEN, GESTART) if event.withdraws else (GESTART, INGETROKKEN)
            return message_305(ident, day, [(u, _start(begin, "3" if event.withdraws else "1", ingang[u.nummer]))
                                            for u in ts]), _lines(
                *[functools.partial(_delivery, u, dag, status, ymd(begin), opposite, None, ingang[u.nummer])
                  for u in ts])
        if isinstance(event, Changed):
            return message_305(ident, day, [(t, _start(_on(day, event.begin), NOT_A_32_STATUS, ingang[t.nummer]))]), \
                _lines(lambda o: Expected(refused="StUF055"))
        if isinstance(event, Unnumbered):
            line = _start(_on(day, event.begin), "1", ingang[t.nummer])
            root = etree.fromstring(message_305(ident, day, [(t, line)]))
            number = _one(root, "ToewijzingNummer")
            number.getparent().remove(number)
            return _bytes(root), _lines(lambda o: Expected(refused="StUF064"))
        if isinstance(event, Correct):
            old, new = _on(day, event.old), _on(day, event.new)
            return message_305(ident, day, [(t, _start(old, "3", ingang[t.nummer])),
                                            (t, _start(new, "1", ingang[t.nummer]))]), _lines(
                functools.partial(_delivery, t, dag, INGETROKKEN, ymd(old), GESTART, None, ingang[t.nummer]),
                functools.partial(_delivery, t, dag, GESTART, ymd(new), INGETROKKEN, None, ingang[t.nummer]))
        einde, reden = self.stopped(event, t, day)
        stop = f"RedenBeeindiging {reden}"
        xml = message_307(ident, day, [(u, {"ToewijzingIngangsdatum": ingang[u.nummer].isoformat(),
                                            "Begindatum": ingang[u.nummer].isoformat(),
                                            "Einddatum": einde.isoformat(), "RedenBeeindiging": reden,
                                            "StatusAanlevering": "3" if event.withdraws else "1"}) for u in ts])
        if event.withdraws:
            return xml, _lines(*[functools.partial(_withdraw_stop, u, dag, ymd(einde), stop, ingang[u.nummer])
                                 for u in ts])
        return xml, _lines(
            *[functools.partial(_delivery, u, dag, GESTOPT, ymd(einde), None, stop, ingang[u.nummer]) for u in ts])

    def deliver(self, offered: Offered, expected: Expected, refused_field: str | None = "clients") -> bool:
        """As the 2.1 run's, but a StatusAanlevering refused names its own field, not the client."""
        if expected.refused == "StUF055":
            try:
                self.converter.convert(offered.xml, offered.name)
            except FAILURES as exc:
                info = describe(exc, offered.name)
                assert (info.code, info.source) == ("StUF055", offered.name), info
                assert (info.field or "").startswith("clients.0.producten.0.status_aanlevering"), info
                return False
            raise AssertionError(f"{offered.name} converted; the oracle expected StUF055")
        return super().deliver(offered, expected, refused_field)


class JeugdRun32(Run32):
    jw = True


class Twins32:
    """An iWmo and an iJw 3.2 chain through one Converter, one ledger and one receiver."""

    def __init__(self) -> None:
        self.receiver = Receiver()
        self.day = FIRST_DAY
        converter = Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock())
        self.runs: dict[bool, Run32] = {jw: (JeugdRun32 if jw else Run32)(
            converter=converter, receiver=WetView(self.receiver, jw), oracle=Oracle(ending=ENDING_3X), say=note)
            for jw in (False, True)}

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
                   (Step(1, Toewijs(1, "jaar", 4, None)), True), (Step(0, Changed(1, 0)), True),
                   (Step(0, Stop(1, 0, "20")), True), (Step(1, Toewijs(2, "jaar", 4, None)), False),
                   (Step(1, Toewijs(2, 0, 4, "13")), False), (Step(0, Start(2, 0, False)), False),
                   (Step(1, Toewijs(0, 14, 6, None)), False)]
"""The samples' story in 3.2, one toewijzing in both wetten: started, the start corrected (E-01: the old date
withdrawn, the new one started, one message), withdrawn alone (F-01), started again (F-02), the first start resent
(older than the state held: not sent), stopped (307 after 305, the zaak closed), a start after the stop (closed:
no change); a 305 with StatusAanlevering 2 (refused) and a 307 for an iJw toewijzing never started; a Wmo
toewijzing ended by RedenWijziging 13 (3.x's own code), then a start (closed: no change); a 301 that would reopen
the stopped one (refused, StUF058)."""


WITHDRAWN_STOP = [(Step(0, Toewijs(0, "jaar", 4, None)), False), (Step(0, Toewijs(0, "jaar", 4, None)), True),
                  (Step(1, Start(0, -1, False)), False), (Step(1, Stop(0, 0, "02")), False),
                  (Step(1, Stop(0, -1, "02", withdraws=True)), False),
                  (Step(0, Stop(0, 0, "20", withdraws=True)), True), (Step(0, Stop(0, 0, "20", withdraws=True)), True),
                  (Step(1, Stop(0, 0, "20")), True),
                  (Step(1, Stop(0, -1, "31", withdraws=True)), True), (Step(1, Toewijs(1, "jaar", 4, None)), False),
                  (Step(1, Toewijs(1, -1, 4, "13")), False), (Step(0, Stop(1, -1, "02", withdraws=True)), False)]
"""307s with StatusAanlevering 3 (spec 3, "A withdrawn stop of zorg"): the stop that closed the Wmo zaak withdrawn
(refused, StUF058); an iJw stop withdrawn on its open zaak (the correcting status; again: no change), then stopped and
withdrawn naming another RedenBeeindiging (refused); a withdrawal on a zaak RedenWijziging 13 closed (not sent)."""


PAIRS = [(Step(0, Toewijs(0, "jaar", 4, None)), False), (Step(0, Toewijs(1, "jaar", 4, None)), False),
         (Step(1, Toewijs(0, "jaar", 4, "04", ingang=-7)), False), (Step(1, Start(0, 0, False, pair=True)), False),
         (Step(1, Start(0, 0, False, pair=True)), True), (Step(1, Stop(1, 0, "02", pair=True)), False)]
"""A corrected Ingangsdatum (the zaak's startdatum), then a 305 for both of the client's toewijzingen, each line
naming its own ToewijzingIngangsdatum; the same as iJw, whose toewijzingen do not exist (the whole message refused,
StUF064); a 307 for both."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(12))
@example(steps=CORRECTED_START)
@example(steps=PAIRS)
@example(steps=WITHDRAWN_STOP)
def test_any_32_start_and_stop_chain_ends_in_the_state_its_events_describe(reference: Path,
                                                                           steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)


@pytest.mark.slow
@settings(max_examples=depth(150, 600), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(30))
def test_longer_32_start_and_stop_chains_end_in_the_state_their_events_describe(
        reference: Path, steps: list[tuple[Step, bool]]) -> None:
    run_chain(steps)
