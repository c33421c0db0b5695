"""Attributes count like element values: which ones carry data, and which ones a rule read.

The promise "nothing is silently dropped" covers every non-empty attribute as it covers every
element text. Two kinds are not data and are never reported: namespace declarations (``xmlns``,
``xmlns:p`` — lxml does not even show them as attributes) and attributes in the ``xsi:`` and
``xml:`` namespaces (``xsi:type``, ``xsi:schemaLocation``, ``xml:lang``), which describe the
document, not the client or the care.

A rule reads an attribute when its path selects it (``m:Client/@bsn``: lxml hands back the attribute
with its element) or, for a function expression such as ``concat(@a, ' ', @b)`` or
``normalize-space(m:X/@y)``, when the expression names it outside a predicate: those location paths
(the *footprint*) are evaluated as well to mark what was read. An attribute used only inside a
predicate or a ``when:`` condition was tested, not carried: it is reported unless ``ignore:`` names it.
A value that ``match.xpath`` compares with a fixed value (``"@berichtcode": "414"``) is carried by the
choice of mapping itself and counts as read.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from gateway.ingest.xmlnames import NOT_DATA, attribute_path, is_data

__all__ = ["NOT_DATA", "Attr", "attribute_of", "attribute_path", "footprint", "is_data"]

Attr = tuple[etree._Element, str]
"""An attribute as (its element, its Clark name)."""


def attribute_of(node: Any) -> Attr | None:
    """The (element, name) of an XPath result that is an attribute node, else None."""
    if isinstance(node, etree._ElementUnicodeResult) and node.is_attribute:
        parent = node.getparent()
        if parent is not None and node.attrname is not None:
            return parent, node.attrname
    return None


def footprint(expr: str) -> list[str]:
    """The location paths ending in an attribute that a function expression reads outside predicates.

    ``concat(m:A/@x, ' ', @y)`` -> ``['m:A/@x', '@y']``; ``m:A[@t='1']/@v`` is a plain node-set path and
    gives its attribute itself, so only paths at predicate depth 0 and outside string literals count.
    """
    out: list[str] = []
    depth = 0
    quote: str | None = None
    start: int | None = None
    continued = False
    i = 0
    token_chars = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:/@*")
    while i <= len(expr):
        ch = expr[i] if i < len(expr) else " "
        if quote:
            if ch == quote:
                quote = None
            i += 1
            continue
        in_token = depth == 0 and ch in token_chars
        if in_token and start is None:
            start = i
            continued = i > 0 and expr[i - 1] == "]"  # the rest of a predicated path: it selects nodes itself
        elif not in_token and start is not None:
            token = expr[start:i]
            tail = token.rsplit("/", 1)[-1]
            fresh = token not in out and not continued
            if fresh and tail.startswith("@") and len(tail) > 1 and "::" not in token:
                out.append(token)
            start = None
        if ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        i += 1
    return out
