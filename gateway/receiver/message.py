"""Read one inbound ``zakLk01`` (bare or in SOAP) into what a zaaksysteem checks: stuurgegevens and objects.

Every way a message can be unreadable ends in a :class:`Refusal` naming the StUF code, the rule and the
element, so the receiver can answer with a Fo03 instead of crashing.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from lxml import etree

from gateway import reference
from gateway.ingest import DEFAULT_MAX_BYTES, InputError, parse_xml
from gateway.ingest.envelopes import unwrap_soap
from gateway.ingest.errors import xsd_message

ZKN = "http://www.egem.nl/StUF/sector/zkn/0310"
STUF = "http://www.egem.nl/StUF/StUF0301"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ZKN_SCHEMA = "stuf/_zkn_mutatie_entry.xsd"
VERWERKINGSSOORT = f"{{{STUF}}}verwerkingssoort"
ENTITEITTYPE = f"{{{STUF}}}entiteittype"
NOVALUE = f"{{{STUF}}}noValue"
NIL = f"{{{XSI}}}nil"
TIJDSTIP_DIGITS = 17  # yyyymmddhhmmssfff (StUF 03.01 §4.3.2)

# The three ZDS 1.2 operations that travel as zakLk01, told apart by their SOAPAction (ZDS §4.1.3-4.1.5).
OPERATIONS = ("creeerZaak", "updateZaak", "actualiseerZaakstatus")


@dataclass
class Refusal(Exception):
    """Why a message is refused: StUF fout code, a short stable rule id, the element, and a text citing the rule."""

    code: str
    rule: str
    element: str
    text: str
    plek: str = "client"
    referentienummer: str | None = None  # of the refused message, when its stuurgegevens were readable
    zender: Zender | None = None  # likewise: a Fo03 is addressed to them and crossRefs it (StUF 03.01 §4.4.1)

    def __str__(self) -> str:
        return f"{self.code} [{self.rule}] {self.element}: {self.text}"

    @property
    def omschrijving(self) -> str:
        """The Fo03 body's omschrijving: what was wrong and which rule says so."""
        return self.text

    @property
    def details(self) -> str:
        """The Fo03 body's details: the rule id and the element, for a machine or a support desk."""
        return f"rule {self.rule}; element {self.element}"


@dataclass(frozen=True)
class Zender:
    """The zender of StUF 03.01 §4.3.2: tijdstipBericht must rise per organisatie+applicatie+administratie."""

    organisatie: str
    applicatie: str
    administratie: str

    def __str__(self) -> str:
        return "/".join((self.organisatie, self.applicatie, self.administratie))


@dataclass(frozen=True)
class Inbound:
    """One parsed zakLk01: stuurgegevens, parameters, its object elements, and a digest of its body."""

    zender: Zender
    referentienummer: str
    tijdstip: str  # padded to 17 digits, so string order is time order
    mutatiesoort: str
    objects: list[etree._Element]
    digest: str
    action: str | None  # operation named by the SOAPAction, None when none was given


def _text(parent: etree._Element, path: str) -> str:
    found = parent.find(path, {"StUF": STUF, "ZKN": ZKN})
    return (found.text or "").strip() if found is not None else ""


def operation_of_action(soap_action: str | None) -> str | None:
    """``creeerZaak`` for ``"http://…/zkn/0310/creeerZaak_Lk01"`` (quotes and namespace optional); None if absent."""
    if soap_action is None or not soap_action.strip().strip('"'):
        return None
    name = soap_action.strip().strip('"').rsplit("/", 1)[-1]
    operation = name.removesuffix("_Lk01").removesuffix("_ZakLk01")
    if operation not in OPERATIONS:
        raise Refusal("StUF025", "soapaction-unknown", "SOAPAction",
                      f"SOAPAction {name!r} is not a zakLk01 operation of ZDS 1.2 "
                      "(creeerZaak_Lk01, updateZaak_Lk01, actualiseerZaakstatus_Lk01)", "server")
    return operation


def _schema_check(root: etree._Element) -> None:
    """Validate against the official StUF-ZKN 3.10 schema when the reference material is present."""
    schema = reference.load_schema(ZKN_SCHEMA)
    if schema is None:
        return
    if not schema.validate(etree.ElementTree(root)):
        error = schema.error_log[0]
        said = xsd_message(error.message)  # the value it quotes by its shape: it may be a BSN or a name
        raise Refusal("StUF055", "schema", f"line {error.line}",
                      f"body does not conform to the StUF-ZKN 3.10 schema (StUF 03.01 §4.4.3): {said}")


TIJDSTIP_LENGTHS = frozenset({8, 10, 12, 14, 15, 16, 17})
"""A StUF:Tijdstip leaves off "de laatste 9, 7, 5, 3, 2 of 1 cijfer(s)" of EEJJMMDDhhmmssddd (StUF 03.01 §3.3.1)."""


def is_tijdstip(raw: str) -> bool:
    """A moment as StUF 03.01 §3.3.1 codes it: a valid date, hh 00-23, mm 00-59, ss 00-59. The schema's pattern
    ([0-9]{8,17}) lets 20261399 through, and a tijdstipBericht 99999999 would then outrank every later message."""
    if not raw.isdigit() or len(raw) not in TIJDSTIP_LENGTHS:
        return False
    try:
        datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return False
    hour, minute, second = (int(raw[at:at + 2] or 0) for at in (8, 10, 12))
    return hour <= 23 and minute <= 59 and second <= 59


def is_datum(raw: str, onvolledig: bool = False) -> bool:
    """A StUF:Datum EEJJMMDD that is a date. The schema's type is a decimal of at most 8 digits, so it takes 1,
    -2026 and 20261301; an onvolledige datum (StUF:indOnvolledigeDatum J/M/D) may hold 00 for what is unknown."""
    if not (len(raw) == 8 and raw.isdigit()):
        return False
    if onvolledig:
        return True
    try:
        datetime.date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        return False
    return True


def _tijdstip(raw: str) -> str:
    if not is_tijdstip(raw):
        raise Refusal("StUF055", "tijdstipBericht", "stuurgegevens/tijdstipBericht",
                      "tijdstipBericht must be a moment EEJJMMDD[hh[mm[ss[d[d[d]]]]]] with a valid date and time "
                      "(StUF 03.01 §3.3.1, §4.3.2)")
    return raw.ljust(TIJDSTIP_DIGITS, "0")


def _stuurgegevens(root: etree._Element | None) -> tuple[str | None, Zender | None]:
    """The referentienummer and zender of a message, as far as they can be read; (None, None) when not at all."""
    stuurgegevens = root.find(f"{{{ZKN}}}stuurgegevens") if root is not None else None
    if stuurgegevens is None:
        return None, None
    zender = Zender(*(_text(stuurgegevens, f"StUF:zender/StUF:{part}")
                      for part in ("organisatie", "applicatie", "administratie")))
    referentienummer = _text(stuurgegevens, "StUF:referentienummer") or None
    return referentienummer, zender if zender.organisatie or zender.applicatie else None


def _addressed(fout: Refusal, root: etree._Element | None) -> Refusal:
    """``fout`` carrying the message's referentienummer and zender when they were readable: StUF 03.01 §4.4.1
    "Het crossRefNummer wordt gevuld met het referentienummer van het bericht naar aanleiding waarvan het
    foutbericht wordt aangemaakt", so a refused but readable message is not answered 'onbekend'."""
    fout.referentienummer, fout.zender = _stuurgegevens(root)
    return fout


def read_message(data: bytes, soap_action: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 validate: bool = True) -> Inbound:
    """Parse ``data`` safely and check what every zakLk01 must carry; raise :class:`Refusal` otherwise (naming
    the message's referentienummer and zender whenever its stuurgegevens could be read)."""
    try:
        action = operation_of_action(soap_action)
    except Refusal as fout:
        try:
            readable: etree._Element | None = unwrap_soap(parse_xml(data, "zakLk01", max_bytes), "zakLk01")[0]
        except InputError:
            readable = None
        raise _addressed(fout, readable) from None
    try:
        root, _ = unwrap_soap(parse_xml(data, "zakLk01", max_bytes), "zakLk01")
    except InputError as exc:
        raise Refusal("StUF055", "xml", exc.field or f"line {exc.line or 1}", exc.message) from None
    try:
        return _checked(root, action, validate)
    except Refusal as fout:
        raise _addressed(fout, root) from None


def _checked(root: etree._Element, action: str | None, validate: bool) -> Inbound:
    if root.tag != f"{{{ZKN}}}zakLk01":
        raise Refusal("StUF025", "berichtcode", etree.QName(root).localname,
                      "this zaaksysteem accepts zakLk01 kennisgevingen only (ZDS 1.2 §4.1.3-4.1.5)", "server")
    if validate:
        _schema_check(root)
    stuurgegevens = root.find(f"{{{ZKN}}}stuurgegevens")
    if stuurgegevens is None:
        raise Refusal("StUF055", "stuurgegevens", "stuurgegevens", "a zakLk01 needs stuurgegevens (StUF 03.01 §4.3)")
    if _text(stuurgegevens, "StUF:berichtcode") != "Lk01":
        raise Refusal("StUF022", "berichtcode", "stuurgegevens/berichtcode", "berichtcode must be Lk01 in a zakLk01")
    if _text(stuurgegevens, "StUF:entiteittype") != "ZAK":
        raise Refusal("StUF031", "entiteittype", "stuurgegevens/entiteittype",
                      "a zakLk01 carries entiteittype ZAK", "server")
    zender = Zender(*(_text(stuurgegevens, f"StUF:zender/StUF:{part}")
                      for part in ("organisatie", "applicatie", "administratie")))
    if not zender.organisatie and not zender.applicatie:
        raise Refusal("StUF013", "zender", "stuurgegevens/zender", "zender names no organisatie or applicatie")
    referentienummer = _text(stuurgegevens, "StUF:referentienummer")
    if not referentienummer:
        raise Refusal("StUF055", "referentienummer", "stuurgegevens/referentienummer",
                      "every kennisgeving needs a referentienummer (StUF 03.01 §4.3.2)")
    tijdstip = _tijdstip(_text(stuurgegevens, "StUF:tijdstipBericht"))
    mutatiesoort = _text(root, "ZKN:parameters/StUF:mutatiesoort")
    objects = root.findall(f"{{{ZKN}}}object")
    digest = hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest()
    return Inbound(zender, referentienummer, tijdstip, mutatiesoort, objects, digest, action)


def is_relation(element: etree._Element) -> bool:
    """A relation entity inside a ZAK object (isVan, heeftAlsInitiator, heeft, …) carries StUF:entiteittype."""
    return element.get(ENTITEITTYPE) is not None


def no_value(element: etree._Element) -> str | None:
    """The StUF:noValue reason of an element, or None when it carries a value."""
    return element.get(NOVALUE)


def local(element: etree._Element) -> str:
    return etree.QName(element).localname
