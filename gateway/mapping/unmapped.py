"""The "nothing silently dropped" check: source values no rule read and no ``ignore:`` entry explains,
elements and attributes alike, each with its path and line.

A value is any non-blank text in the message, wherever it sits: a leaf's text (also when a comment or a
processing instruction splits it: ``<X>ab<!-- c -->cd</X>`` holds ``abcd``), and text beside child elements
(mixed content, ``<Client>text<Bsn>...</Bsn>more</Client>``), which no rule can read and which is reported
as the element's ``/text()``. Comments and processing instructions themselves are not values."""

from __future__ import annotations

from lxml import etree

from .attributes import Attr, attribute_of, attribute_path, is_data
from .result import MapState, Unmapped
from .rules import Compiled

_Element = etree._Element
_ATTRIBUTES = etree.XPath("count(descendant-or-self::*/@*)")
"""The attributes of an element and its descendants, counted in libxml2 (~3 µs a message against ~5 for
``items()`` on each element)."""
_LOOSE_TEXT = etree.XPath("boolean(descendant::text()[normalize-space()][../node()[2]])")
"""Text that is not all of its element's content: beside child elements, or in a leaf a comment or processing
instruction splits. No walk vouches for it (text beside elements is never a rule's value); found in libxml2, ~20 µs
a message (~40 with the blanks kept) for the Python walk. The native walk notes such text as it passes instead."""


def element_path(el: _Element) -> str:
    """Readable path with the document's own prefixes, e.g. /wmo301:Bericht/wmo301:Header/iwmo:Code."""
    parts: list[str] = []
    node: _Element | None = el
    while node is not None:
        q = etree.QName(node)
        prefix = node.prefix
        parts.append(f"{prefix}:{q.localname}" if prefix else q.localname)
        node = node.getparent()
    return "/" + "/".join(reversed(parts))


def _mark_matched(mapping: Compiled, root: _Element, st: MapState) -> None:
    """A value the mapping's ``match.xpath`` compared with a fixed value is carried by the mapping itself
    (``@berichtcode: "414"`` is what makes it a 301): it counts as read. Only a node that holds that value
    (compared as :func:`.registry.why_not` compares): one match suffices, so a second ``Kanaal`` beside the
    matched one holds another value, which nothing carries."""
    for path, expected in mapping.match.xpath:
        if expected is None or (path.tags is not None and not path.tags):
            continue
        for node in path.run(root, st.index):
            if isinstance(node, _Element):
                if (node.text or "").strip() == expected:
                    st.consumed.add(node)
            elif (attr := attribute_of(node)) is not None and str(node) == expected:
                st.attrs.add(attr)


def unmapped_values(mapping: Compiled, root: _Element, st: MapState) -> list[Unmapped]:
    """Source values no rule read and no ``ignore:`` entry explains: leaf element texts and non-empty
    attributes alike (not ``xsi:``/``xml:`` attributes; see :mod:`.attributes`), in document order."""
    ignored, ignored_attrs, ignored_text = _ignored(mapping, root)
    _mark_matched(mapping, root, st)
    out: list[Unmapped] = []
    consumed = st.consumed
    read = st.attrs
    for el in root.iter(etree.Element):
        if ignored and el in ignored:
            continue
        attributes = el.items()  # a list, cheaper than the attrib proxy when (as mostly) empty
        if attributes:
            for name, value in attributes:
                if value.strip() and is_data(name) and (el, name) not in read and (el, name) not in ignored_attrs:
                    out.append(Unmapped(attribute_path(element_path(el), el, name), el.sourceline))
        if el in consumed or (ignored_text and el in ignored_text):
            continue
        if not len(el):
            text = el.text
            if text is not None and text.strip():
                out.append(Unmapped(element_path(el), el.sourceline))
        elif (loose := _loose_text(el)) is not None:
            leaf, line = loose
            out.append(Unmapped(element_path(el) if leaf else element_path(el) + "/text()", line))
    return out


def _ignored(mapping: Compiled, root: _Element) -> tuple[set[_Element], set[Attr], set[_Element]]:
    """What ``ignore:`` explains: elements with all inside them, attributes, and the elements whose own text an
    entry names (``m:Client/text()``: the text beside its children, the rest still checked)."""
    ignored: set[_Element] = set()
    ignored_attrs: set[Attr] = set()
    ignored_text: set[_Element] = set()
    for path, _reason in mapping.ignore:
        for node in path.run(root):
            if isinstance(node, _Element):
                ignored.update(node.iter())
            elif (attr := attribute_of(node)) is not None:
                ignored_attrs.add(attr)
            elif isinstance(node, etree._ElementUnicodeResult) and (node.is_text or node.is_tail):
                owner = node.getparent()  # a tail's is the element before it, inside the one that holds it
                owner = owner.getparent() if node.is_tail and owner is not None else owner
                if owner is not None:
                    ignored_text.add(owner)
    return ignored, ignored_attrs, ignored_text


def _loose_text(el: _Element) -> tuple[bool, int | None] | None:
    """The text of an element with children, when not blank: (True, line) for a leaf whose text a comment or
    processing instruction splits, (False, line) for text beside child elements; the line is where the first
    non-blank piece follows (the element's start tag or the child before it)."""
    line: int | None = None
    text = el.text
    if text is not None and text.strip():
        line = el.sourceline
    leaf = True
    for child in el:
        if child.tag.__class__ is str:
            leaf = False
        if line is None and (tail := child.tail) is not None and tail.strip():
            line = child.sourceline
    if line is None:
        return None
    return leaf, line


def left_over(mapping: Compiled, root: _Element, st: MapState) -> list[Unmapped]:
    """:func:`unmapped_values`, without its scan of every element when the untraced walk vouches for the
    message: no attributes, and in its :attr:`MapState.spots` no leaf text that nothing read. Otherwise (or
    traced) the full scan decides, so the result, its order and its paths are the scan's own."""
    if st.trace:
        return unmapped_values(mapping, root, st)
    native = st.native
    if native is None:
        if not _all_read(root, st):
            return unmapped_values(mapping, root, st)
    elif not native.all_read(root, st.consumed, st.spots):
        native.materialise(st.consumed, st.spots)  # the scan works on proxies
        return unmapped_values(mapping, root, st)
    return []


def _all_read(root: _Element, st: MapState) -> bool:
    """True when every leaf text under ``root`` was read: the walk went through every element but its spots,
    and each spot's leaves were read (or are blank); attributes are not vouched for (False when any)."""
    if not len(root) or _ATTRIBUTES(root) or _LOOSE_TEXT(root):
        return False
    consumed = st.consumed
    for spot in st.spots:
        if len(spot):
            for el in spot.iter(etree.Element):
                if not len(el) and el not in consumed and (text := el.text) is not None and text.strip():
                    return False
        elif spot not in consumed and spot.tag.__class__ is str and (text := spot.text) is not None and text.strip():
            return False
    return True
