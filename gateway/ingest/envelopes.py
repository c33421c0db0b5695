"""Peel transport envelopes (SOAP 1.1/1.2) off an inbound message to reach the payload."""

from __future__ import annotations

from lxml import etree

from .errors import InputError

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_NAMESPACES = {SOAP11: "soap11", SOAP12: "soap12"}


def unwrap_soap(root: etree._Element, source: str) -> tuple[etree._Element, str | None]:
    """Return the Body's first element and ``soap11``/``soap12``, or ``root`` unchanged and None."""
    ns = etree.QName(root).namespace
    kind = SOAP_NAMESPACES.get(ns or "")
    if kind is None:
        return root, None
    body = root.find(f"{{{ns}}}Body")
    if body is None:
        raise InputError("SOAP envelope without a Body", source=source, line=root.sourceline, field="Body")
    for child in body:
        if isinstance(child.tag, str):
            return child, kind
    raise InputError("SOAP Body is empty: expected a message", source=source, line=body.sourceline, field="Body")
