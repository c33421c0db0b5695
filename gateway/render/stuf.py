"""StUF 03.01 replies the sidecar gives its senders: ``Bv03Bericht`` and ``Fo03Bericht``, in SOAP envelopes.

Inbound iWmo/StUF kennisgevingen are asynchronous, so the synchronous technical answer is a Bv03
(stored, will be processed) or a Fo03 (refused; StUF 03.01 §4.4.3). On SOAP a Fo03 travels as the
``detail`` of a SOAP Fault, as the StUF WUS binding prescribes for faults. Replies are built as text:
they are small, fixed in shape, and checked against the official schema by the tests.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Literal

from gateway.ledger.base import next_tijdstip

from .foutcodes import Plek, plek_of
from .zkn import esc, referentienummer

STUF_NS = "http://www.egem.nl/StUF/StUF0301"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NS = {"soap11": SOAP11_NS, "soap12": SOAP12_NS}
CONTENT_TYPE = {"soap11": "text/xml; charset=utf-8", "soap12": "application/soap+xml; charset=utf-8"}

SoapVersion = Literal["soap11", "soap12"]

# Lengths from stuf0301.xsd: Foutcode 7, Foutomschrijving 200, Foutdetails 1000, Refnummer 40,
# Organisatie 200, Applicatie 3..50.
MAX_CODE, MAX_OMSCHRIJVING, MAX_DETAILS, MAX_REF, MAX_ORGANISATIE, MAX_APPLICATIE = 7, 200, 1000, 40, 200, 50
UNKNOWN_REF = "onbekend"


@dataclass(frozen=True, slots=True)
class Party:
    """A StUF ``Systeem``: who sends or receives a reply (applicatie is required, 3..50 characters; StUF 03.01 4.2)."""

    applicatie: str
    organisatie: str | None = None
    administratie: str | None = None
    gebruiker: str | None = None


@dataclass(frozen=True, slots=True)
class Fout:
    """The body of a StUF foutbericht: code, where the cause lies, what went wrong, optional details."""

    code: str
    plek: Plek
    omschrijving: str
    details: str | None = None
    soap_side: Plek | None = None
    """The SOAP Fault's side (Client/Sender or Server/Receiver) where it must differ from ``plek``: a message too
    large is StUF058, plek server, in Tabel 4.1, yet as it is it will never pass, and SOAP 1.1 §4.4.1 says of
    Client "the message should not be resent without change"."""

    @classmethod
    def of(cls, code: str, omschrijving: str, details: str | None = None, soap_side: Plek | None = None) -> Fout:
        """A Fout with the plek StUF 03.01 gives its code (:mod:`.foutcodes`), so no call can pair them wrongly."""
        return cls(code, plek_of(code), omschrijving, details, soap_side)

    @property
    def side(self) -> Plek:
        """Whose the fault is in SOAP terms: ``soap_side``, else ``plek``."""
        return self.soap_side or self.plek


def http_status(fout: Fout, version: SoapVersion) -> int:
    """The HTTP status of a SOAP Fault, as the SOAP bindings require it.

    SOAP 1.1 §6.2 and WS-I Basic Profile 1.1 R1126: 500 for every Fault (JAX-WS and WCF SOAP 1.1 clients
    raise a transport error on any other status and never show the Fo03). SOAP 1.2 Part 2 §7.5 (fault to
    HTTP status): 400 for env:Sender, 500 for every other fault."""
    return 400 if version == "soap12" and fout.side == "client" else 500


_LAST_TIJDSTIP: str | None = None
_TIJDSTIP_LOCK = threading.Lock()


def tijdstip(now: dt.datetime | None = None) -> str:
    """StUF Tijdstip ``yyyymmddhhmmssmmm`` (local time, as StUF systems write it), greater than every one before.

    StUF 03.01 4.3.2: "StUF stelt wel als randvoorwaarde dat het tijdstipBericht van een bericht groter is dan
    het tijdstipBericht van alle eerder door een systeem aangemaakte berichten" (StUF019 at a receiver that checks).
    The acknowledgements one outbox commit releases are made within one millisecond, and local time steps back an
    hour when summer time ends: either would repeat a moment, so a reply takes the next millisecond instead.
    """
    global _LAST_TIJDSTIP
    now = now or dt.datetime.now()
    with _TIJDSTIP_LOCK:
        _LAST_TIJDSTIP = next_tijdstip(_LAST_TIJDSTIP, now)
        return _LAST_TIJDSTIP


def new_referentienummer() -> str:
    """A fresh reference for a reply: a UUID version 4, unique per zender and within StUF Refnummer's 40 characters.

    A UUID because the ISD-keten checks every reference against that form (StUF-GGk 2.4: "De elementen
    stuurgegevens.Referentienummer en stuurgegevens.crossRefnummer dienen gevuld te worden met geldige, en unieke,
    Universally Unique Identifiers (UUID)"; VECOZO CC04, Inlichtingenbureau IB009), and a Bv03 or Fo03 that answers a
    Di01 is such a reference. Drawn from the zkn render's buffer of random bytes, so it costs about a microsecond.
    """
    return referentienummer()


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _systeem(tag: str, party: Party) -> str:
    applicatie = party.applicatie if len(party.applicatie) >= 3 else party.applicatie.ljust(3, "_")
    parts = [f"<StUF:{tag}>"]
    if party.organisatie:
        parts.append(f"<StUF:organisatie>{esc(_clip(party.organisatie, MAX_ORGANISATIE))}</StUF:organisatie>")
    parts.append(f"<StUF:applicatie>{esc(_clip(applicatie, MAX_APPLICATIE))}</StUF:applicatie>")
    if party.administratie:
        parts.append(f"<StUF:administratie>{esc(_clip(party.administratie, 50))}</StUF:administratie>")
    if party.gebruiker:
        parts.append(f"<StUF:gebruiker>{esc(_clip(party.gebruiker, 100))}</StUF:gebruiker>")
    parts.append(f"</StUF:{tag}>")
    return "".join(parts)


systeem = _systeem
"""A ``StUF:Systeem`` element (zender/ontvanger) as the stuurgegevens of any StUF message write it."""


def _stuurgegevens(code: str, zender: Party, ontvanger: Party, cross_ref: str, referentienummer: str | None,
                   moment: str | None) -> str:
    return (
        f"<StUF:stuurgegevens><StUF:berichtcode>{code}</StUF:berichtcode>"
        + _systeem("zender", zender) + _systeem("ontvanger", ontvanger)
        + f"<StUF:referentienummer>{esc(_clip(referentienummer or new_referentienummer(), MAX_REF))}"
        "</StUF:referentienummer>"
        f"<StUF:tijdstipBericht>{moment or tijdstip()}</StUF:tijdstipBericht>"
        f"<StUF:crossRefnummer>{esc(_clip(cross_ref or UNKNOWN_REF, MAX_REF))}</StUF:crossRefnummer>"
        "</StUF:stuurgegevens>"
    )


def bv03(zender: Party, ontvanger: Party, cross_ref: str, *, referentienummer: str | None = None,
         moment: str | None = None) -> bytes:
    """A ``Bv03Bericht``: the message was received and stored and will be processed."""
    return (f'<StUF:Bv03Bericht xmlns:StUF="{STUF_NS}">'
            + _stuurgegevens("Bv03", zender, ontvanger, cross_ref, referentienummer, moment)
            + "</StUF:Bv03Bericht>").encode("utf-8")


def _foutbody(fout: Fout) -> str:
    body = (f"<StUF:body><StUF:code>{esc(_clip(fout.code, MAX_CODE))}</StUF:code>"
            f"<StUF:plek>{fout.plek}</StUF:plek>"
            f"<StUF:omschrijving>{esc(_clip(fout.omschrijving, MAX_OMSCHRIJVING))}</StUF:omschrijving>")
    if fout.details:
        body += f"<StUF:details>{esc(_clip(fout.details, MAX_DETAILS))}</StUF:details>"
    return body + "</StUF:body>"


def fo03(zender: Party, ontvanger: Party, cross_ref: str, fout: Fout, *, referentienummer: str | None = None,
         moment: str | None = None) -> bytes:
    """A ``Fo03Bericht``: the message was refused; code, plek and omschrijving say why, details where."""
    return (f'<StUF:Fo03Bericht xmlns:StUF="{STUF_NS}">'
            + _stuurgegevens("Fo03", zender, ontvanger, cross_ref, referentienummer, moment)
            + _foutbody(fout) + "</StUF:Fo03Bericht>").encode("utf-8")


def fo02(fout: Fout) -> bytes:
    """A ``Fo02Bericht``, the foutbericht that answers a synchronous (vrij) bericht such as a Di02.

    Its stuurgegevens hold the berichtcode and nothing else: StUF 03.01 §4.4.3, "In een Fo02-foutbericht mag het
    element <stuurgegevens> uitsluitend het element berichtcode bevatten" (stuf0301.xsd restricts it so)."""
    return (f'<StUF:Fo02Bericht xmlns:StUF="{STUF_NS}"><StUF:stuurgegevens><StUF:berichtcode>Fo02'
            "</StUF:berichtcode></StUF:stuurgegevens>" + _foutbody(fout) + "</StUF:Fo02Bericht>").encode("utf-8")


def _strip_declaration(xml: bytes) -> bytes:
    if xml.startswith(b"<?xml"):
        end = xml.find(b"?>")
        return xml[end + 2:].lstrip()
    return xml


def envelope(message: bytes, version: SoapVersion = "soap11") -> bytes:
    """``message`` (any XML, declaration dropped) as the only child of a SOAP Body."""
    ns = SOAP_NS[version]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{ns}"><soap:Body>'.encode()
            + _strip_declaration(message) + b"</soap:Body></soap:Envelope>\n")


def fault(fo: bytes, fout: Fout, version: SoapVersion = "soap11") -> bytes:
    """A SOAP Fault carrying a Fo03 as its detail; Client/Sender or Server/Receiver after :attr:`Fout.side`."""
    reason = esc(_clip(fout.omschrijving, MAX_OMSCHRIJVING))
    if version == "soap12":
        code = "soap:Sender" if fout.side == "client" else "soap:Receiver"
        inner = (f"<soap:Fault><soap:Code><soap:Value>{code}</soap:Value></soap:Code>"
                 f'<soap:Reason><soap:Text xml:lang="en">{reason}</soap:Text></soap:Reason>'
                 "<soap:Detail>").encode() + fo + b"</soap:Detail></soap:Fault>"
    else:
        code = "soap:Client" if fout.side == "client" else "soap:Server"
        inner = (f"<soap:Fault><faultcode>{code}</faultcode><faultstring>{reason}</faultstring>"
                 "<detail>").encode() + fo + b"</detail></soap:Fault>"
    return envelope(inner, version)


def must_understand_fault(blocks: list[tuple[str, str]], version: SoapVersion = "soap11") -> bytes:
    """The SOAP Fault for header blocks marked mustUnderstand that this node does not understand ((namespace,
    local name) each): SOAP 1.1 §4.2.3, "If a header element is tagged with a SOAP mustUnderstand attribute with a
    value of "1", the recipient of that header entry either MUST obey the semantics [...] or MUST fail processing
    the message"; faultcode MustUnderstand (§4.4.1), and no detail, as the fault is not about the Body (§4.4).
    SOAP 1.2 Part 1 §5.4.8: Code env:MustUnderstand, the blocks named in env:NotUnderstood header blocks."""
    ns = SOAP_NS[version]
    reason = "header block(s) marked mustUnderstand not understood: " + ", ".join(
        f"{{{namespace}}}{name}" for namespace, name in blocks)
    reason = esc(_clip(reason, MAX_OMSCHRIJVING))
    if version == "soap11":
        return envelope((f"<soap:Fault><faultcode>soap:MustUnderstand</faultcode><faultstring>{reason}</faultstring>"
                         "</soap:Fault>").encode(), version)
    header = "".join(f'<soap:NotUnderstood xmlns:nu="{esc(namespace)}" qname="nu:{esc(name)}"/>'
                     for namespace, name in blocks)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="{ns}"><soap:Header>{header}'
            "</soap:Header><soap:Body><soap:Fault><soap:Code><soap:Value>soap:MustUnderstand</soap:Value></soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="en">{reason}</soap:Text></soap:Reason></soap:Fault></soap:Body>'
            "</soap:Envelope>\n").encode()


def soap_action(namespace: str, element: str) -> str:
    """The StUF WUS SOAPAction of a message: its namespace, a slash and its element name.

    ``zakLk01`` in StUF-ZKN 3.10 gives ``http://www.egem.nl/StUF/sector/zkn/0310/zakLk01``, as the
    StUF WSDLs bind their operations (``.../StUF0301/Tr01``).
    """
    return f"{namespace.rstrip('/')}/{element}"
