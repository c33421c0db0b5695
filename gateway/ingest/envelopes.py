"""Peel transport envelopes (SOAP 1.1/1.2) off an inbound message to reach the payload."""

from __future__ import annotations

from lxml import etree

from .errors import InputError

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = {SOAP11: "soap11", SOAP12: "soap12"}
_THIS_NODE = {SOAP11: {"http://schemas.xmlsoap.org/soap/actor/next"},
              SOAP12: {f"{SOAP12}/role/next", f"{SOAP12}/role/ultimateReceiver"}}
"""Actors (SOAP 1.1 4.2.2) and roles (SOAP 1.2 Part 1 2.2) besides the default that name the ultimate receiver; a
header block for any other one is not its to understand."""


def unwrap_soap(root: etree._Element, source: str) -> tuple[etree._Element, str | None]:
    """Return the Body's one message and ``soap11``/``soap12``, or ``root`` unchanged and None.

    Two messages in a Body, or two Bodies, are refused: converting only the first would drop the rest
    while the sender is acknowledged for all of them. So are two Headers: a SOAP envelope has at most one, and the
    blocks of a second would be passed over.
    """
    tag = root.tag  # "{namespace}name": its namespace without a QName object (~1 µs a message)
    ns = tag[1:tag.find("}")] if tag[:1] == "{" else ""
    kind = SOAP_NAMESPACES.get(ns)
    if kind is None:
        return root, None
    headers = root.findall(f"{{{ns}}}Header")
    if len(headers) > 1:  # a block marked mustUnderstand in the second would be passed over (SOAP 1.1 4.2, 1.2 5.2)
        raise InputError(f"SOAP envelope with {len(headers)} Header elements: expected at most one", source=source,
                         line=headers[1].sourceline, field="Header")
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


def not_understood(root: etree._Element) -> tuple[tuple[str, str], ...]:
    """(namespace, local name) of each header block of the SOAP envelope ``root`` that is marked mustUnderstand for
    the ultimate receiver, which understands none: SOAP 1.1 4.2.3, such a receiver "MUST fail processing the
    message"; SOAP 1.2 Part 1 5.2.3 alike. Nothing for a ``root`` that is no SOAP envelope."""
    tag = root.tag
    ns = tag[1:tag.find("}")] if isinstance(tag, str) and tag[:1] == "{" else ""
    headers = root.findall(f"{{{ns}}}Header") if ns in SOAP_NAMESPACES else []
    found = []
    for block in (block for header in headers for block in header):
        if not isinstance(block.tag, str):
            continue
        flag = (block.get(f"{{{ns}}}mustUnderstand") or "").strip()
        target = block.get(f"{{{ns}}}actor" if ns == SOAP11 else f"{{{ns}}}role")
        if flag in ("1", "true") and (target is None or target in _THIS_NODE[ns]):
            name = etree.QName(block)
            found.append((name.namespace or "", name.localname))
    return tuple(found)
