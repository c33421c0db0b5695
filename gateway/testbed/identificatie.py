"""genereerZaakIdentificatie_Di02 → _Du02 (ZDS 1.2 §4.1.6): the testbed hands out zaak identificaties.

ZDS 1.2 §4.1.6.1: an issued identificatie is reserved and never issued again, unique within the gemeente,
answered at once (synchronously), at most 40 characters of which the first four are the gemeentecode. The
counter lives in the journal, so a restart never issues a number twice. A Di02 that is not one is answered
with a Fo02 (the foutbericht of a vrij bericht).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape as esc

from lxml import etree

from gateway.ingest import InputError, parse_xml
from gateway.ingest.envelopes import unwrap_soap
from gateway.reference import load_zs_dms_schema
from gateway.render import stuf

ZKN = "http://www.egem.nl/StUF/sector/zkn/0310"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
DI02 = f"{{{ZKN}}}genereerZaakIdentificatie_Di02"
FUNCTIE = "genereerZaakidentificatie"


def is_di02(body: bytes) -> bool:
    """Cheap test before parsing: only these requests go here, every other one to the receiver."""
    return b"genereerZaakIdentificatie_Di02" in body[:4096]


@dataclass(frozen=True, slots=True)
class Di02:
    referentienummer: str
    zender: stuf.Party
    gemeentecode: str


class Refused(ValueError):
    def __init__(self, element: str, text: str) -> None:
        super().__init__(f"{element}: {text}")
        self.fout = stuf.Fout("StUF055", "client", text, f"element {element}")


def _party(el: etree._Element | None) -> stuf.Party:
    if el is None:
        return stuf.Party("onbekend")
    text = {name: (el.findtext(f"{STUF}{name}") or "").strip() or None
            for name in ("organisatie", "applicatie", "administratie")}
    return stuf.Party(text["applicatie"] or "onbekend", text["organisatie"], text["administratie"])


def read_di02(body: bytes) -> Di02:
    """The request, checked against the zs-dms schema (when the reference folder is there) and ZDS §4.1.6.2."""
    try:
        root, _ = unwrap_soap(parse_xml(body, "genereerZaakIdentificatie_Di02", 1024 * 1024),
                              "genereerZaakIdentificatie_Di02")
    except InputError as exc:
        raise Refused(exc.field or "xml", exc.message) from None
    if root.tag != DI02:
        raise Refused("body", f"expected genereerZaakIdentificatie_Di02, got {etree.QName(root).localname}")
    schema = load_zs_dms_schema()
    if schema is not None and not schema.validate(etree.ElementTree(root)):
        error = schema.error_log[0]
        raise Refused(f"line {error.line}", "body does not conform to the StUF-ZKN 3.10 zs-dms schema")
    sg = root.find(f"{{{ZKN}}}stuurgegevens")
    functie = (sg.findtext(f"{STUF}functie") if sg is not None else "") or ""
    if functie.strip() != FUNCTIE:
        raise Refused("stuurgegevens/functie", f"functie must be {FUNCTIE} (ZDS 1.2 §4.1.6.2)")
    zender = _party(sg.find(f"{STUF}zender") if sg is not None else None)
    ontvanger = _party(sg.find(f"{STUF}ontvanger") if sg is not None else None)
    gemeente = next((o for o in (zender.organisatie, ontvanger.organisatie) if o and len(o) == 4 and o.isdigit()),
                    None)
    if gemeente is None:
        raise Refused("stuurgegevens/zender/organisatie", "no gemeentecode (4 digits) as zender or ontvanger "
                      "organisatie: a zaakidentificatie starts with it (ZDS 1.2 §4.1.6.1)")
    referentienummer = ((sg.findtext(f"{STUF}referentienummer") if sg is not None else "") or "").strip()
    return Di02(referentienummer or stuf.UNKNOWN_REF, zender, gemeente)


def du02(request: Di02, identificatie: str, testbed: stuf.Party) -> bytes:
    """The answer carrying the issued identificatie, addressed back to the requester."""
    sg = (f"<ZKN:stuurgegevens><StUF:berichtcode>Du02</StUF:berichtcode>{stuf.systeem('zender', testbed)}"
          f"{stuf.systeem('ontvanger', request.zender)}<StUF:referentienummer>{stuf.new_referentienummer()}"
          f"</StUF:referentienummer><StUF:tijdstipBericht>{stuf.tijdstip()}</StUF:tijdstipBericht>"
          f"<StUF:crossRefnummer>{esc(request.referentienummer)}</StUF:crossRefnummer>"
          f"<StUF:functie>{FUNCTIE}</StUF:functie></ZKN:stuurgegevens>")
    return (f'<ZKN:genereerZaakIdentificatie_Du02 xmlns:ZKN="{ZKN}" xmlns:StUF="{STUF[1:-1]}">{sg}'
            f'<ZKN:zaak StUF:entiteittype="ZAK" StUF:functie="entiteit"><ZKN:identificatie>{esc(identificatie)}'
            "</ZKN:identificatie></ZKN:zaak></ZKN:genereerZaakIdentificatie_Du02>").encode()
