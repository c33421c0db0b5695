"""Which source lines became which canonical elements: the mapping lineage laid over both payloads.

``overstap explain`` names, per canonical field, the source element and its line in the message as stored,
and where StUF carries it (``ZKN:object/ZKN:kenmerk/ZKN:kenmerk``, ``StUF:extraElement naam="…"``). The
message page shows both payloads indented, so the stored line numbers no longer hold: the document is parsed
once as stored and once as shown, and the two trees are walked side by side (same elements, same order) to
carry a line number across. Every shown line gets an anchor and the numbers of the lineage rows that name it,
so the page can link both ways and CSS (``:target``) can light up the pair: no script.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False)
_EXTRA = re.compile(r'^StUF:extraElement naam="([^"]+)"')
_PATH = re.compile(r"^([A-Za-z]+:[\w.]+(?:/[A-Za-z]+:[\w.]+)*)")


@dataclass(slots=True)
class Line:
    """One shown line of a payload and the lineage rows (1-based) that name it."""

    text: str
    rows: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Shown:
    """A payload as shown (indented lines), and per lineage row the line it marks there."""

    lines: list[Line]
    line_of_row: dict[int, int] = field(default_factory=dict)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _pairs(data: bytes) -> tuple[str, list[tuple[etree._Element, int]]] | None:
    """The indented text and each element of the stored document with its line in that text; None: not XML."""
    try:
        stored = etree.fromstring(data, _PARSER)
        text = etree.tostring(stored, pretty_print=True, encoding="unicode")
        shown = etree.fromstring(text.encode(), _PARSER)
    except (etree.LxmlError, ValueError):
        return None
    return text, [(a, b.sourceline or 0) for a, b in zip(stored.iter(), shown.iter(), strict=False)
                  if isinstance(a.tag, str)]


def _mark(text: str, marks: dict[int, list[int]]) -> list[Line]:
    return [Line(t, sorted(set(marks.get(n, [])))) for n, t in enumerate(text.splitlines(), start=1)]


def source(data: bytes, rows: Sequence[Any]) -> Shown | None:
    """The original, indented, with each lineage row's source element marked (row ``line`` and element name)."""
    found = _pairs(data)
    if found is None:
        return None
    text, pairs = found
    at: dict[int, list[tuple[str, int]]] = {}
    for element, shown_line in pairs:
        at.setdefault(element.sourceline or 0, []).append((_local(element.tag), shown_line))
    marks: dict[int, list[int]] = {}
    line_of_row: dict[int, int] = {}
    for number, row in enumerate(rows, start=1):
        if not row.line or row.line not in at:
            continue
        name = row.source.split(" + ")[0].rstrip("/").rpartition("/")[2].partition(":")[2].split("[")[0]
        here = at[row.line]
        shown_line = next((s for n, s in here if n == name), here[-1][1])
        marks.setdefault(shown_line, []).append(number)
        line_of_row[number] = shown_line
    return Shown(_mark(text, marks), line_of_row)


def _paths(pairs: list[tuple[etree._Element, int]]) -> list[tuple[str, etree._Element, int]]:
    """Each element's path of prefixed names from the root (``ZKN:zakLk01/ZKN:object/…``)."""
    out = []
    for element, shown_line in pairs:
        names = []
        node: Any = element
        while node is not None:
            if isinstance(node.tag, str):
                names.append(f"{node.prefix}:{_local(node.tag)}" if node.prefix else _local(node.tag))
            node = node.getparent()
        out.append(("/".join(reversed(names)), element, shown_line))
    return out


def canonical(data: bytes, rows: Sequence[Any]) -> Shown | None:
    """A canonical payload, indented, with the element each lineage row's StUF place names marked. Where a place
    matches several elements (``ZKN:kenmerk`` for each kenmerk), those holding the row's value win."""
    found = _pairs(data)
    if found is None:
        return None
    text, pairs = found
    paths = _paths(pairs)
    marks: dict[int, list[int]] = {}
    line_of_row: dict[int, int] = {}
    for number, row in enumerate(rows, start=1):
        hits: list[tuple[etree._Element, int]] = []
        for place in row.stuf:
            extra = _EXTRA.match(place)
            path = _PATH.match(place)
            if extra:
                hits += [(e, s) for _, e, s in paths if _local(e.tag) == "extraElement" and e.get("naam") ==
                         extra.group(1)]
            elif path and not place.startswith("not carried"):
                hits += [(e, s) for p, e, s in paths if p.endswith("/" + path.group(1))]
        if not hits:
            continue
        exact = [(e, s) for e, s in hits if (e.text or "").strip() == str(row.value)]
        for _, shown_line in exact or hits:
            marks.setdefault(shown_line, []).append(number)
        line_of_row[number] = (exact or hits)[0][1]
    return Shown(_mark(text, marks), line_of_row)
