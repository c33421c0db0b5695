"""Peel transport envelopes (SOAP 1.1/1.2) off an inbound message to reach the payload."""

from __future__ import annotations

from lxml import etree

from .errors import InputError

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = {SOAP11: "soap11", SOAP12: "soap12"}


def unwrap_soap(root: etree._Element, source: str) -> tuple[etree._Element, str | None]:
    """Return the Body's one message and ``soap11``/``soap12``, or ``root`` unchanged and None.

    Two messages in a Body, or two Bodies, are refused: converting only the first would drop the rest
    while the sender is acknowledged for all of them.
    """
    tag = root.tag  # "{namespace}name": its namespace without a QName object (~1 µs a message)
    ns = tag[1:tag.find("}")] if tag[:1] == "{" else ""
    kind = SOAP_NAMESPACES.get(ns)
    if kind is None:
        return root, None
    bodies = root.findall(f"{{{ns}}}Body")
    if not bodies:
        raise InputError("SOAP envelope without a Body", source=source, line=root.sourceline, field="Body")
    if len(bodies) > 1:  # only the first would be converted while the sender is told all arrived
        raise InputError(f"SOAP envelope with {len(bodies)} Body elements: expected exactly one", source=source,
                         line=bodies[1].sourceline, field="Body")
    body = bodies[0]
    messages = [child for child in body if isinstance(child.tag, str)]
    if not messages:
        raise InputError("SOAP Body is empty: expected a message", source=source, line=body.sourceline, field="Body")
    if len(messages) > 1:
        raise InputError(f"SOAP Body holds {len(messages)} messages: expected exactly one per envelope",
                         source=source, line=messages[1].sourceline, field="Body")
    return messages[0], kind
