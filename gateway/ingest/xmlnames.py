"""How a message's attributes are told apart and named in reports, for the payload's unmapped check
(:mod:`gateway.mapping.unmapped`) and a GGk envelope's alike: one rule of what is data, one way of writing it."""

from __future__ import annotations

from lxml import etree

NOT_DATA = ("{http://www.w3.org/2001/XMLSchema-instance}", "{http://www.w3.org/XML/1998/namespace}")
"""Namespaces of attributes that describe the document, not its data (``xsi:``, ``xml:``)."""


def is_data(name: str) -> bool:
    """True for an attribute (Clark name) whose value is data (not ``xsi:``/``xml:``)."""
    return not name.startswith(NOT_DATA)


def attribute_path(element_path: str, el: etree._Element, name: str) -> str:
    """``/m:Bericht/m:Client/@bsn``: the element's path plus the attribute, with the document's prefix."""
    q = etree.QName(name)
    if q.namespace:
        prefix = next((p for p, uri in (el.nsmap or {}).items() if uri == q.namespace and p), None)
        shown = f"{prefix}:{q.localname}" if prefix else f"{{{q.namespace}}}{q.localname}"
    else:
        shown = q.localname
    return f"{element_path}/@{shown}"
