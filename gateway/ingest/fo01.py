"""Read the StUF Fo01 the ISD-keten sends a gemeente about a message of its own that the chain refused.

GGk spec 2.3: the chain is asynchronous; "Eventuele fouten die optreden in dit berichtenverkeer en relevant zijn
voor gemeenten worden aan de gemeente aangeboden in de vorm van StUF Fo01-berichten" (its WSDL
``ggk0310_OntvangAsynchroon.wsdl``, operation ``Fo01``). A Fo01 carries no payload to convert: it is checked here
(the StUF 03.01 schema, and the stuurgegevens rules every GGk envelope meets) and its facts go to the outbox, which
marks the delivery its crossRefnummer names. Its omschrijving and details are the chain's free text about a
message and may quote a BSN or a name: they are kept scrubbed with the delivery, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from gateway.reference import load_schema

from . import ggk
from .envelopes import unwrap_soap
from .errors import InputError, xsd_message
from .xml import parse_xml

FO01 = "Fo01Bericht"
SCHEMA = "ggk/0301/stuf0301.xsd"
"""The StUF 03.01 schema the chain's WSDL imports (``ggk0310_OntvangAsynchroon.wsdl``: ``../../0301``)."""
REQUIRED = ("berichtcode", "zender/organisatie", "zender/applicatie", "ontvanger/organisatie",
            "ontvanger/applicatie", "referentienummer", "tijdstipBericht", "crossRefnummer")
"""What a Fo01's stuurgegevens must fill: the schema's own (crossRefnummer included: it names the message refused)
and, as in every GGk envelope (spec 3.2/3.3), both organisaties, which the schema leaves optional."""
WHAT = "StUF Fo01"
_S = f"{{{ggk.STUF_NS}}}"


class SchemaMissing(RuntimeError):
    """The StUF 03.01 schema is not in the reference folder: a Fo01 cannot be checked, so it is not taken."""


@dataclass(frozen=True, slots=True)
class ChainFault:
    """A checked Fo01: whom it refuses (``crossRefnummer``), why (code, plek, texts) and who sent it."""

    referentienummer: str
    crossRefnummer: str
    code: str
    plek: str
    omschrijving: str
    details: str | None = None
    stuurgegevens: dict[str, str] = field(default_factory=dict)
    """``zender.organisatie`` … as :func:`ggk.stuurgegevens_of` gives them: the parties its Bv03 answers."""


def is_fo01(data: bytes) -> bool:
    """Whether ``data``'s message is a StUF Fo01Bericht, bare or the one message of a SOAP Body (by structure,
    from its start: a mention in a comment or text does not count)."""
    return ggk.message_name(data) == (ggk.STUF_NS, FO01)


def read_fo01(data: bytes, source: str, max_bytes: int) -> ChainFault:
    """The checked Fo01 in ``data``, or :class:`InputError` naming field and line (StUF055); the schema is
    required (:class:`SchemaMissing`)."""
    root = parse_xml(data, source, max_bytes)
    message, _soap = unwrap_soap(root, source)
    if message.tag != _S + FO01:
        raise InputError(f"expected a StUF {FO01}, found {etree.QName(message).localname}", source=source,
                         line=message.sourceline, field=FO01)
    schema = load_schema(SCHEMA)
    if schema is None:
        raise SchemaMissing(f"{SCHEMA} not found in the reference folder: set OVERSTAP_REFERENCE_DIR")
    if not schema.validate(message):
        error = schema.error_log.last_error
        raise InputError(f"{WHAT} does not validate against the StUF 03.01 schema: {xsd_message(error.message)}",
                         source=source, line=error.line or message.sourceline, field=FO01)
    stuur = message.find(_S + "stuurgegevens")
    body = message.find(_S + "body")
    assert stuur is not None and body is not None  # the schema requires both
    info = ggk.stuurgegevens_of(stuur, REQUIRED, WHAT, source)
    for path in ("referentienummer", "crossRefnummer"):
        ggk.check_uuid(stuur, path, WHAT, source)
    ggk.check_tijdstip(stuur, info, WHAT, source)
    texts = {name: ggk.text_at(body, name)[0] for name in ("code", "plek", "omschrijving", "details")}
    return ChainFault(info["referentienummer"], info["crossRefnummer"], texts["code"] or "?", texts["plek"] or "?",
                      texts["omschrijving"] or "", texts["details"], info)
