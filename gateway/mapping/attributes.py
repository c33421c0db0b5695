"""Attributes count like element values: which ones carry data, and which ones a rule read.

The promise "nothing is silently dropped" covers every non-empty attribute as it covers every
element text. Two kinds are not data and are never reported: namespace declarations (``xmlns``,
``xmlns:p`` — lxml does not even show them as attributes) and attributes in the ``xsi:`` and
``xml:`` namespaces (``xsi:type``, ``xsi:schemaLocation``, ``xml:lang``), which describe the
document, not the client or the care.

A rule reads an attribute when its path selects it (``m:Client/@bsn``: lxml hands back the attribute
with its element) or, for a function expression such as ``concat(@a, ' ', @b)`` or
``normalize-space(m:X/@y)``, when the expression names it outside a predicate: those location paths
(the *footprint*) are evaluated as well to mark what was read. So too the elements such an expression names
(``concat(m:A, '/', m:B)``): before session 25 only its attributes were marked, and A and B were reported as
unmapped although their values were in the output. An attribute used only inside a
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


_OPERATORS = frozenset({"and", "or", "div", "mod"})
"""XPath's operator names, which look like element names in the token scan."""
_NODE_TESTS = ("text", "node")
"""A path ending in ``text()`` or ``node()``: the parentheses do not make it a function call."""


def footprint(expr: str) -> list[str]:
    """The location paths (to attributes or elements) that a function expression reads outside predicates.

    ``concat(m:A/@x, ' ', @y)`` -> ``['m:A/@x', '@y']``, ``concat(m:A, '/', m:B)`` -> ``['m:A', 'm:B']``;
    ``m:A[@t='1']/@v`` is a plain node-set path and gives its nodes itself, so only paths at predicate depth 0 and
    outside string literals count, and neither function names, numbers, ``.`` nor operators (``and``, ``div``).
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
            token = _location_path(expr, start, i)
            if token is not None and token not in out and not continued:
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


def _location_path(expr: str, start: int, end: int) -> str | None:
    """The token ``expr[start:end]`` as a location path a function reads, or None when it is none: a function's
    name (``concat`` before its parenthesis), a number, ``.``/``..``, an operator, a variable, an axis step, or
    the start of a predicated path (``m:A[...]/m:V``: its predicate tests, and what it selects is left reported,
    as an attribute there always was)."""
    token = expr[start:end]
    tail = token.rsplit("/", 1)[-1]
    after = expr[end:].lstrip()[:1]
    called = after == "("
    if called and "/" in token and tail in _NODE_TESTS:
        return token + "()"
    if called or after == "[" or "::" in token or token.strip(".") == "" or token[0].isdigit() or token[0] == "-":
        return None
    if token in _OPERATORS or (start > 0 and expr[start - 1] == "$") or tail == "@":
        return None
    return token
