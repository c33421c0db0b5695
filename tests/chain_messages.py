"""iWmo 2.1 chain messages for tests, built from the fixtures in ``tests/fixtures/iwmo21`` by setting values with
lxml (never by joining strings): a 315 for one toewijzing's product, a 301, 305, 307 or 302 for one or more
toewijzingen of one client. The official
2.1 XSDs validate what they give; the property test of whole chains (test_chain_property.py) draws them."""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
AANBIEDER = "98026987"
"""The aanbieder of every template but the 315's, which is set to it."""
TEMPLATES = {"315": "CasusA-01-WMO315_verzoek.xml",
             "301": "CasusB-01-WMO301_toewijzing.xml", "305": "families/CasusB-02-WMO305_start.xml",
             "307": "families/CasusB-04-WMO307_stop.xml", "302": "families/CasusB-01-WMO302_retour_afgekeurd.xml"}
FIRST_DAY = dt.date(2016, 3, 7)
"""The Dagtekening of the first message and the Ingangsdatum of every toewijzing."""
LAST_DAY = dt.date(2016, 12, 31)


@dataclass(frozen=True)
class Toewijzing:
    """One toegewezen product of one client: what stays the same in every message about it."""

    nummer: str
    bsn: str
    beschikking: str
    code: str


def _iso(day: dt.date) -> str:
    return day.isoformat()


def _set(root: etree._Element, local: str, value: str, under: etree._Element | None = None) -> None:
    """Set every element named ``local`` (any namespace) below ``under`` (default: the root) to ``value``."""
    found = [e for e in (under if under is not None else root).iter() if etree.QName(e).localname == local]
    assert found, f"template has no {local}"
    for element in found:
        element.text = value


def _one(root: etree._Element, local: str) -> etree._Element:
    (found,) = [e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == local]
    return found


def _template(name: str) -> etree._Element:
    return etree.fromstring((FIXTURES / name).read_bytes())


def _header(root: etree._Element, ident: str, day: dt.date, ts: list[Toewijzing]) -> None:
    _set(root, "Identificatie", ident)
    _set(root, "Dagtekening", _iso(day))
    _set(root, "Bsn", ts[0].bsn)
    _set(root, "BeschikkingNummer", ts[0].beschikking)


def _lines(root: etree._Element, local: str, ts: list[Toewijzing]) -> list[etree._Element]:
    """The template's one ``local`` line, repeated for each toewijzing of ``ts`` (number and product code set)."""
    line = _one(root, local)
    lines = [line] + [copy.deepcopy(line) for _ in ts[1:]]
    for at, (element, t) in enumerate(zip(lines, ts, strict=True)):
        if at:
            lines[at - 1].addnext(element)
        _set(root, "Code", t.code, element)
        if local != "BeschiktProduct":
            _set(root, "ToewijzingNummer", t.nummer, element)
    return lines


def _bytes(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _add_after(anchor: etree._Element, local: str, text: str) -> None:
    """A new element ``local`` (the anchor's namespace) right after ``anchor``, where the XSD has it."""
    element = etree.Element(f"{{{etree.QName(anchor).namespace}}}{local}")
    element.text = text
    anchor.addnext(element)


def message_315(t: Toewijzing, ident: str, day: dt.date, referentie: str) -> bytes:
    """A request for the product of toewijzing ``t``, from its Ingangsdatum, under ``referentie``."""
    root = _template(TEMPLATES["315"])
    _header(root, ident, day, [t])
    for local, value in (("Afzender", AANBIEDER), ("Aanbieder", AANBIEDER), ("ReferentieAanbieder", referentie),
                         ("Categorie", t.code[:2]), ("Code", t.code), ("BeschikkingIngangsdatum", _iso(FIRST_DAY)),
                         ("ToewijzingIngangsdatum", _iso(FIRST_DAY))):
        _set(root, local, value)
    return _bytes(root)


def message_301(ts: list[Toewijzing], ident: str, day: dt.date, moment: dt.datetime, einde: dt.date, volume: int,
                reden: str | None, referentie: str | None = None, ingang: dt.date = FIRST_DAY) -> bytes:
    """A 301 line for each of ``ts``; ``referentie``: the ReferentieAanbieder of the request the first answers;
    ``ingang``: the Ingangsdatum of every line (a later one corrects it)."""
    root = _template(TEMPLATES["301"])
    _header(root, ident, day, ts)
    _lines(root, "BeschiktProduct", ts)
    for at, line in enumerate(_lines(root, "ToegewezenProduct", ts)):
        for local, value in (("Toewijzingsdatum", _iso(moment.date())), ("Toewijzingstijd", f"{moment:%H:%M:%S}"),
                             ("Ingangsdatum", _iso(ingang)), ("Einddatum", _iso(einde)), ("Volume", str(volume))):
            _set(root, local, value, line)
        if reden is not None:
            _add_after(_one(line, "Einddatum"), "RedenWijziging", reden)
        if referentie is not None and at == 0:
            _add_after(_one(line, "ToewijzingNummer"), "ReferentieAanbieder", referentie)
    return _bytes(root)


def _unnumbered(lines: list[etree._Element]) -> list[etree._Element]:
    """The lines without their ToewijzingNummer (optional in a 2.1 305/307, absent in 2.0): found by product."""
    for line in lines:
        number = _one(line, "ToewijzingNummer")
        number.getparent().remove(number)
    return lines


def message_305(ts: list[Toewijzing], ident: str, day: dt.date, begin: dt.date, withdraws: bool,
                ingang: dt.date = FIRST_DAY, numbered: bool = True) -> bytes:
    root = _template(TEMPLATES["305"])
    _header(root, ident, day, ts)
    lines = _lines(root, "StartProduct", ts)
    for line in lines if numbered else _unnumbered(lines):
        _set(root, "ToewijzingIngangsdatum", _iso(ingang), line)
        _set(root, "Begindatum", _iso(begin), line)
        _set(root, "StatusAanlevering", "3" if withdraws else "1", line)
    return _bytes(root)


def message_307(ts: list[Toewijzing], ident: str, day: dt.date, einde: dt.date, reden: str,
                ingang: dt.date = FIRST_DAY, numbered: bool = True, withdraws: bool = False) -> bytes:
    """``withdraws``: each line with StatusAanlevering 3, the stop withdrawn (else 1)."""
    root = _template(TEMPLATES["307"])
    _header(root, ident, day, ts)
    lines = _lines(root, "StopProduct", ts)
    for line in lines if numbered else _unnumbered(lines):
        for local, value in (("ToewijzingIngangsdatum", _iso(ingang)), ("Begindatum", _iso(ingang)),
                             ("Einddatum", _iso(einde)), ("RedenBeeindiging", reden),
                             ("StatusAanlevering", "3" if withdraws else "1")):
            _set(root, local, value, line)
    return _bytes(root)


def message_302(ts: list[Toewijzing], ident: str, day: dt.date) -> bytes:
    root = _template(TEMPLATES["302"])
    _header(root, ident, day, ts)
    _lines(root, "ToegewezenProduct", ts)
    _set(root, "DagtekeningRetour", _iso(day))
    return _bytes(root)


def message_301_unnumbered(ts: list[Toewijzing], ident: str, day: dt.date, moment: dt.datetime, einde: dt.date,
                           volume: int, reden: str | None, referentie: str | None = None,
                           ingang: dt.date = FIRST_DAY) -> bytes:
    """:func:`message_301` with no ToewijzingNummer on its lines (optional in 2.1, absent in 2.0): a toewijzing
    named by beschikking, product and Ingangsdatum alone (the 2.x product key)."""
    root = etree.fromstring(message_301(ts, ident, day, moment, einde, volume, reden, referentie, ingang))
    _unnumbered([e for e in root.iter() if isinstance(e.tag, str) and etree.QName(e).localname == "ToegewezenProduct"])
    return _bytes(root)
