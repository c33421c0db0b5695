"""Property: an iWmo 2.0 chain sent as EI flat files ends in the same zaken as its XML twin. Each event of a drawn
2.0 chain (301 toewijzing or correction, 301 intrekking, 305 start, withdrawal or E-01 correction, 307 stop, 315
verzoek, any of them again) is sent either as 2.0 XML or as its EI twin, written from that XML by the EI writer
(``Converter.reverse`` to the ``iwmo20-ei-*`` dialect, gateway/ingest/ei_write.py), through one Converter and one
ledger into one reference receiver; beside it the same chain all as XML through its own. Message by message both
must convert alike (the same refusal code, or the same operations) and after each the two receivers must hold the
same zaken, field by field.

What EI covers (notes/ei-flat-format.md, dialects/ei, samples/iwmo-ei): iWmo 2.0 only, messages 301, 305, 307 and
315 (the retours and every 2.1/3.x message have no flat form), so the chains are 2.0. The samples/iwmo-ei files are
the same cases as samples/iwmo20-xml (tests/test_ei_write.py: each XML sample is written as its EI twin byte for
byte), so an EI and an XML message of one case are one message to the spec: "Input formats ... the same canonical
model" (docs/canonical-spec.md). The oracle here is that equality, not a second state machine: the 2.0 XML chains
themselves are what test_chains.py checks against the spec. The messages are the reference's 2.0 samples (read at
run time, never copied) with values set by lxml: client 123456782, case B (beschikking 658721123, 01A01 from
2016-03-07, aanbieder 98026987) and case A (425386123, 07A03 from 2016-02-15, aanbieder 98025566).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chain_messages import _add_after, _bytes, _one, _set
from clocks import StepClock
from depth import depth
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_chain_property import registry

from gateway.ledger import MemoryLedger
from gateway.pipeline import FAILURES, Converter, describe
from gateway.receiver import Receiver
from gateway.reference import reference_dir


@dataclass(frozen=True)
class Case:
    """One toewijzing of the samples: its 2.x product key's values and the samples that speak of it."""

    beschikking: str
    code: str
    ingang: dt.date
    aanbieder: str
    toewijzing: str  # the 301 sample


CASES = (Case("658721123", "01A01", dt.date(2016, 3, 7), "98026987", "CasusB-01-WMO301_toewijzing.xml"),
         Case("425386123", "07A03", dt.date(2016, 2, 15), "98025566", "CasusA-02-WMO301_toewijzing.xml"))
FIRST_DAY = dt.date(2016, 3, 7)
LAST_DAY = dt.date(2016, 12, 31)
EI_DIALECT = {"414": "iwmo20-ei-wmo301", "418": "iwmo20-ei-wmo305", "420": "iwmo20-ei-wmo307",
              "444": "iwmo20-ei-wmo315"}
"""The EI dialect of each 2.0 BerichtCode the flat format has (dialects/ei)."""


@dataclass(frozen=True)
class Toewijs:
    """A 301 of case ``c``: its ToegewezenProduct to ``einde`` (days from the Dagtekening, or "jaar"), with
    ``volume``; ``intrekking``: a RedenIntrekking (2.0's end of a toewijzing, samples A-04, C-01)."""

    c: int
    einde: int | str
    volume: int
    intrekking: str | None = None


@dataclass(frozen=True)
class Start:
    """A 305 line of case ``c``: started ``begin`` days from the Dagtekening (1), or withdrawn (3, F-01)."""

    c: int
    begin: int
    withdraws: bool


@dataclass(frozen=True)
class Changed:
    """A 305 line of case ``c`` with StatusAanlevering 2 (COD467 "gewijzigde aanlevering", in 2.0's list)."""

    c: int
    begin: int


@dataclass(frozen=True)
class Correct:
    """A 305 of case ``c`` as E-01 sends it: a line withdrawing ``old`` (3), one starting ``new`` (1)."""

    c: int
    old: int
    new: int


@dataclass(frozen=True)
class Stop:
    """A 307 of case ``c``: stopped ``einde`` days from the Dagtekening."""

    c: int
    einde: int
    reden: str


@dataclass(frozen=True)
class Vraag:
    """A 315 of case ``c``'s product."""

    c: int


@dataclass(frozen=True)
class Again:
    """The ``n``-th earlier message (modulo how many there are) offered again, in either form (its step's): the
    same message through the other channel is the same message (no change, or older)."""

    n: int


@dataclass(frozen=True)
class Step:
    days: int
    event: Toewijs | Start | Changed | Correct | Stop | Vraag | Again
    ei: bool = False  # sent as its EI twin in the mixed chain


CS = st.integers(0, len(CASES) - 1)
OFFSETS = st.sampled_from([-5, -2, 0])
EVENTS = st.one_of(
    st.builds(Toewijs, CS, st.sampled_from([-3, 0, 14, "jaar"]), st.sampled_from([22500, 6, 18000])),
    st.builds(Toewijs, CS, st.sampled_from([-3, 0, 14]), st.just(6), st.sampled_from(["1", "3", "4"])),
    st.builds(Start, CS, OFFSETS, st.booleans()),
    st.builds(Correct, CS, OFFSETS, OFFSETS),
    st.builds(Changed, CS, OFFSETS),
    st.builds(Stop, CS, st.sampled_from([-1, 0]), st.sampled_from(["02", "19"])),
    st.builds(Vraag, CS),
    st.builds(Again, st.integers(0, 20)),
)


@st.composite
def chains(draw: st.DrawFn, max_size: int) -> list[Step]:
    """Some toewijzingen created first, then any events; each step's form drawn."""
    first = draw(st.lists(CS, unique=True, max_size=len(CASES)))
    steps = [Step(0, Toewijs(c, "jaar", 6 if c else 22500)) for c in first] + draw(
        st.lists(st.builds(Step, st.integers(0, 3), EVENTS), min_size=1, max_size=max_size))
    forms = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    return [Step(s.days, s.event, ei) for s, ei in zip(steps, forms, strict=True)]


# ---------------------------------------------------------------- 2.0 messages: the samples with values set by lxml


@functools.cache
def _sample(name: str) -> bytes:
    return (reference_dir() / "samples" / "iwmo20-xml" / name).read_bytes()


def _template(name: str, case: Case, ident: str, day: dt.date) -> etree._Element:
    """A sample as case ``case``'s message: header, aanbieder, beschikking, product and Ingangsdatum set."""
    root = etree.fromstring(_sample(name))
    _set(root, "Identificatie", ident)
    _set(root, "Dagtekening", day.isoformat())
    for local, value in (("Afzender", case.aanbieder), ("Aanbieder", case.aanbieder),
                         ("Beschikkingnummer", case.beschikking), ("Categorie", case.code[:2])):
        _set(root, local, value)
    for product in [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "Product"]:
        _set(root, "Code", case.code, product)
    return root


def _lines(root: etree._Element, local: str) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == local]


def message_301(case: Case, ident: str, day: dt.date, moment: dt.datetime, einde: dt.date, volume: int,
                intrekking: str | None) -> bytes:
    root = etree.fromstring(_sample(case.toewijzing))
    _set(root, "Identificatie", ident)
    _set(root, "Dagtekening", day.isoformat())
    (line,) = _lines(root, "ToegewezenProduct")
    for local, value in (("Toewijzingsdatum", moment.date().isoformat()), ("Toewijzingstijd", f"{moment:%H:%M:%S}"),
                         ("Einddatum", einde.isoformat()), ("Volume", str(volume))):
        _set(root, local, value, line)
    if intrekking is not None:
        _add_after(_one(line, "Einddatum"), "RedenIntrekking", intrekking)
    return _bytes(root)


def message_305(case: Case, ident: str, day: dt.date, lines: list[tuple[dt.date, str]]) -> bytes:
    """A StartProduct per (Begindatum, StatusAanlevering) of ``lines``, in order (E-01's shape); the client's own
    StatusAanlevering 9 (unchanged) when every line withdraws, as F-01 sends it, else 1."""
    root = _template("CasusB-02-WMO305_start.xml", case, ident, day)
    client = _one(root, "Client")
    _set(root, "StatusAanlevering", "9" if all(status == "3" for _, status in lines) else "1", client)
    (first,) = _lines(root, "StartProduct")
    _set(root, "Ingangsdatum", case.ingang.isoformat(), first)
    anchor = first
    for at, (begin, status) in enumerate(lines):
        line = first if at == 0 else copy.deepcopy(first)
        if at:
            anchor.addnext(line)
            anchor = line
        _set(root, "Begindatum", begin.isoformat(), line)
        _set(root, "StatusAanlevering", status, line)
    return _bytes(root)


def message_307(case: Case, ident: str, day: dt.date, einde: dt.date, reden: str) -> bytes:
    root = _template("CasusB-04-WMO307_stop.xml", case, ident, day)
    for local, value in (("Ingangsdatum", case.ingang.isoformat()), ("Begindatum", case.ingang.isoformat()),
                         ("Einddatum", einde.isoformat()), ("RedenBeeindiging", reden)):
        _set(root, local, value, _one(root, "StopProduct"))
    return _bytes(root)


def message_315(case: Case, ident: str, day: dt.date) -> bytes:
    root = _template("CasusA-01-WMO315_verzoek.xml", case, ident, day)
    for local in ("Ingangsdatum", "Begindatum"):  # of its one line
        _set(root, local, case.ingang.isoformat())
    return _bytes(root)


def _on(day: dt.date, offset: int) -> dt.date:
    return max(FIRST_DAY, day + dt.timedelta(days=offset))


def build(event: Any, count: int, day: dt.date) -> bytes:
    """The 2.0 XML message of ``event``, the ``count``-th of its chain, dated ``day``."""
    case, ident = CASES[event.c], f"ei{count:010d}"
    if isinstance(event, Toewijs):
        einde = LAST_DAY if event.einde == "jaar" else _on(day, int(event.einde))
        moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=count)
        return message_301(case, ident, day, moment, einde, event.volume, event.intrekking)
    if isinstance(event, Start):
        return message_305(case, ident, day, [(_on(day, event.begin), "3" if event.withdraws else "1")])
    if isinstance(event, Changed):
        return message_305(case, ident, day, [(_on(day, event.begin), "2")])
    if isinstance(event, Correct):
        return message_305(case, ident, day, [(_on(day, event.old), "3"), (_on(day, event.new), "1")])
    if isinstance(event, Stop):
        return message_307(case, ident, day, _on(day, event.einde), event.reden)
    return message_315(case, ident, day)


def ei_twin(xml: bytes, name: str) -> bytes:
    """The EI flat file of a 2.0 XML message, as ``convert --reverse`` writes it."""
    code = _lines(etree.fromstring(xml), "Code")[0].text or ""  # the header's BerichtCode comes first
    (written,) = Converter(registry()).reverse(xml, EI_DIALECT[code], name)
    return written.xml


# ---------------------------------------------------------------- two chains side by side


@dataclass
class Side:
    """One chain's Converter, ledger and receiver."""

    converter: Converter
    receiver: Receiver

    @classmethod
    def new(cls) -> Side:
        return cls(Converter(registry(), validate=True, ledger=MemoryLedger(), clock=StepClock()), Receiver())

    def send(self, data: bytes, name: str) -> tuple[str, ...]:
        """Convert and deliver: the refusal's code, or the operations (each answered Bv03)."""
        try:
            conversion = self.converter.convert(data, name)
        except FAILURES as exc:
            return ("refused", describe(exc, name).code or "")
        for output in conversion.outputs:
            answer = self.receiver.receive(output.xml, output.soap_action)
            assert answer.accepted, f"{name}: {output.operation} answered Fo03: {answer.fout}"
        return tuple(o.operation for o in conversion.outputs)


def zaken(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """What the receiver holds of each zaak, but for the ids of the StUF messages that changed it (each output's
    UUID, new in every conversion: StUF 03.01 stuurgegevens, "referentienummer" unique per zender)."""
    return {ident: {k: v for k, v in zaak.items() if k != "berichten"}
            for ident, zaak in receiver.snapshot().items()}


def run_chain(steps: list[Step], say: Any = lambda text: None) -> tuple[Side, Side, int]:
    """The chain all as XML and as drawn (XML or EI), compared after every message; how many were EI."""
    xml_side, mixed_side = Side.new(), Side.new()
    sent: list[tuple[bytes, str]] = []  # (XML, name)
    day, eis = FIRST_DAY, 0
    for step in steps:
        day += dt.timedelta(days=step.days)
        if isinstance(step.event, Again):  # in the form its step draws: XML sent again as EI, or EI as XML
            if not sent:
                continue
            xml, name = sent[step.event.n % len(sent)]
            name += " again" + (" (EI)" if step.ei else "")
        else:
            name = f"#{len(sent) + 1} {step.event}" + (" (EI)" if step.ei else "")
            xml = build(step.event, len(sent) + 1, day)
            sent.append((xml, name))
        mixed = ei_twin(xml, name) if step.ei else xml
        eis += step.ei
        by_xml, by_mixed = xml_side.send(xml, name), mixed_side.send(mixed, name)
        say(f"{name} ({day}): {by_xml}")
        assert by_mixed == by_xml, (name, by_mixed, by_xml)
        assert zaken(mixed_side.receiver) == zaken(xml_side.receiver), name
    return xml_side, mixed_side, eis


SAMPLES_STORY = [Step(0, Vraag(0), ei=True), Step(0, Toewijs(0, "jaar", 22500)), Step(3, Start(0, 0, False), ei=True),
                 Step(4, Start(0, -4, True)), Step(0, Start(0, -4, False), ei=True),
                 Step(7, Correct(0, -11, 0), ei=True), Step(1, Again(3)), Step(1, Stop(0, 0, "02"), ei=True),
                 Step(0, Toewijs(1, "jaar", 6), ei=True), Step(1, Toewijs(1, 0, 6, "4"), ei=True),
                 Step(1, Toewijs(1, "jaar", 6))]
"""The samples' story, some events as EI, some as XML: 315, 301, B-02 start, F-01 withdrawn, F-02 delivered again,
E-01 corrected, F-01 resent after it (older than the state held: not sent), B-04 stop; case A's 301, A-04 its
intrekking, then a 301 that would reopen it (refused StUF058 in both forms)."""


@pytest.fixture(scope="module")
def reference(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("reference_dir")


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(10))
@example(steps=SAMPLES_STORY)
def test_any_20_chain_sent_as_ei_ends_in_the_zaken_of_its_xml_twin(reference: Path, steps: list[Step]) -> None:
    run_chain(steps, note)


@pytest.mark.slow
@settings(max_examples=depth(100, 400), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(30))
def test_longer_20_chains_sent_as_ei_end_in_the_zaken_of_their_xml_twins(reference: Path, steps: list[Step]) -> None:
    run_chain(steps, note)
