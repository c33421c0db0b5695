"""What the testbed reads of a request itself, besides what the receiver reads: the SOAP version and action, the
header blocks it must understand, and the stuurgegevens its answer is addressed by.

* The answer goes in the request's SOAP version (SOAP 1.2 Part 2 §7: a SOAP 1.2 request gets a SOAP 1.2 response,
  ``application/soap+xml``); bare XML is answered in SOAP 1.1.
* SOAP 1.2 carries its action as the ``action`` parameter of the ``application/soap+xml`` media type (RFC 3902), not
  in a SOAPAction header: it is the SOAPAction the receiver checks the message against.
* A Bv03/Fo03 is addressed from the message's ontvanger to its zender, every part kept: StUF 03.01 §4.4.1 and §4.4.3,
  "De elementen zender en ontvanger in de stuurgegevens [...] worden gevuld op basis van de waarden in het bericht
  naar aanleiding waarvan het [...] bericht wordt aangemaakt"; its crossRefnummer is that message's referentienummer.

The message is parsed with the project's hardened parser (no entities, bounded size and nodes); when it cannot be
read, nothing is known and the answer falls back to what the receiver said.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from lxml import etree

from gateway.ingest import InputError, envelopes, parse_xml
from gateway.render import stuf

SYSTEEM_PARTS = ("organisatie", "applicatie", "administratie", "gebruiker")


@dataclass(frozen=True, slots=True)
class Heard:
    """What the testbed read of one request."""

    version: stuf.SoapVersion
    action: str | None
    """The SOAPAction: the header in SOAP 1.1, the media type's ``action`` parameter in SOAP 1.2."""
    zender: stuf.Party | None = None
    ontvanger: stuf.Party | None = None
    referentienummer: str | None = None
    not_understood: tuple[tuple[str, str], ...] = ()
    """(namespace, local name) of each header block for this node marked mustUnderstand (the testbed understands
    none)."""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _party(element: etree._Element | None) -> stuf.Party | None:
    """A zender or ontvanger as written; None when it names nothing. The applicatie is required in a reply: an
    unnamed one is ``onbekend``, as before."""
    if element is None:
        return None
    parts = {_local(child): (child.text or "").strip() for child in element if _local(child) in SYSTEEM_PARTS}
    if not any(parts.values()):
        return None
    return stuf.Party(parts.get("applicatie") or "onbekend", parts.get("organisatie") or None,
                      parts.get("administratie") or None, parts.get("gebruiker") or None)


def _action(content_type: str, soap_action: str | None, version: stuf.SoapVersion) -> str | None:
    if version == "soap12" and "application/soap+xml" in content_type.lower():
        header = Message()
        header["content-type"] = content_type
        action = header.get_param("action")
        if isinstance(action, str) and action:
            return action
    return soap_action


def hear(body: bytes, content_type: str | None, soap_action: str | None, max_bytes: int) -> Heard:
    """Read ``body`` as far as the answer needs it; an unreadable one gives the version of its Content-Type."""
    content_type = content_type or ""
    version: stuf.SoapVersion = "soap12" if "application/soap+xml" in content_type.lower() else "soap11"
    try:
        root = parse_xml(body, "soap", max_bytes, huge=True)
    except InputError:
        return Heard(version, _action(content_type, soap_action, version))
    envelope = {ns: name for name, ns in stuf.SOAP_NS.items()}.get(etree.QName(root).namespace or "")
    message, not_understood = root, ()
    if envelope is not None:
        version = envelope  # type: ignore[assignment]
        not_understood = envelopes.not_understood(root)
        body_el = root.find(f"{{{stuf.SOAP_NS[version]}}}Body")
        found = [child for child in body_el if isinstance(child.tag, str)] if body_el is not None else []
        if len(found) != 1:
            return Heard(version, _action(content_type, soap_action, version), not_understood=not_understood)
        message = found[0]
    action = _action(content_type, soap_action, version)
    stuurgegevens = next((child for child in message if _local(child) == "stuurgegevens"), None)
    if stuurgegevens is None:
        return Heard(version, action, not_understood=not_understood)
    by_name = {_local(child): child for child in stuurgegevens}
    referentienummer = (by_name["referentienummer"].text or "").strip() if "referentienummer" in by_name else ""
    return Heard(version, action, _party(by_name.get("zender")), _party(by_name.get("ontvanger")),
                 referentienummer or None, not_understood)
