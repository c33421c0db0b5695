"""A minimal element tree for the reverse writer, serialised to the very bytes lxml's pretty print gives.

The reverse writer (gateway.mapping.reverse) builds one message per call. On lxml every step cost a C
proxy: ``SubElement``, and worse, each ``reversed(element)`` and ``.tag`` while looking for the child to
reuse. These nodes are plain Python objects with the subset of the lxml API the writer uses, and
:func:`serialise` writes them as ``etree.tostring(..., xml_declaration=True, encoding="UTF-8",
pretty_print=True)`` would (libxml2's rules: two-space indent, no formatting inside an element that has
text, ``<a/>`` for an element without text or children). Whatever it cannot vouch for (a tag in a namespace
the root does not declare once, a value lxml would refuse, very deep nesting) makes it answer None, and the
caller builds the real lxml tree instead (:func:`to_lxml`), so the bytes and the errors stay lxml's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from lxml import etree

_NO_CHILDREN: dict[str, Node] = {}
"""The shared, never written ``Node.last`` of an element without children."""


class Node:
    """An element: Clark ``tag``, ``text``, attributes in the order set, and children. No parent pointer: a
    tree with one would be a reference cycle per element, which only the cyclic garbage collector frees
    (~50 us a GGk message in collections)."""

    __slots__ = ("attrib", "children", "last", "tag", "text")

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.text: str | None = None
        self.attrib: dict[str, str] | None = None  # made on the first attribute: most elements have none
        self.children: list[Node] = []
        self.last: dict[str, Node] = _NO_CHILDREN
        """The last child of each tag, in document order (what the writer reuses); made with the first child."""

    def __reversed__(self) -> Iterator[Node]:
        return reversed(self.children)

    def get(self, name: str) -> str | None:
        return self.attrib.get(name) if self.attrib else None

    def set(self, name: str, value: str) -> None:
        if self.attrib is None:
            self.attrib = {}
        self.attrib[name] = value

    def iterfind(self, tags: tuple[str, ...]) -> list[Node]:
        """The elements at the plain child path ``tags`` (``iterfind("a/b")`` with Clark tags)."""
        if any(tag.startswith("@") for tag in tags):
            raise KeyError("@")  # as lxml's ElementPath answers an attribute step
        nodes = [self]
        for tag in tags:
            nodes = [child for node in nodes for child in node.children if child.tag == tag]
        return nodes


def insert_after(parent: Node | None, element: Node, node: Node) -> None:
    """``element.addnext(node)``: ``node`` right after ``element`` among the children of ``parent`` (None:
    ``element`` is the root, which has no siblings)."""
    if parent is None:
        raise TypeError("Only processing instructions and comments can be siblings of the root element")
    siblings = parent.children
    at = next(i for i, child in enumerate(siblings) if child is element)
    siblings.insert(at + 1, node)
    if parent.last is _NO_CHILDREN:
        parent.last = {}
    parent.last[node.tag] = next(child for child in reversed(siblings) if child.tag == node.tag)


def sub(parent: Node, tag: str) -> Node:
    """``etree.SubElement(parent, tag)``."""
    node = Node(tag)
    parent.children.append(node)
    if parent.last is _NO_CHILDREN:
        parent.last = {tag: node}
    else:
        parent.last[tag] = node
    return node


def to_lxml(root: Node, nsmap: dict[str, str]) -> etree._Element:
    """The same tree as lxml elements (what ``Reversed.root`` hands out); lxml checks every name and value."""
    element = etree.Element(root.tag, nsmap=nsmap)  # type: ignore[arg-type]
    _fill(element, root)
    return element


def _fill(element: etree._Element, node: Node) -> None:
    for name, value in (node.attrib or {}).items():
        element.set(name, value)
    if node.text is not None:
        element.text = node.text
    for child in node.children:
        _fill(etree.SubElement(element, child.tag), child)


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters lxml refuses in text and attribute values (it raises; the fallback lets it)."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_TEXT = re.compile("[&<>\r]")
_ATTR = re.compile("[&<>\"\n\r\t]")
_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR_ESCAPES = {**_TEXT_ESCAPES, '"': "&quot;", "\n": "&#10;", "\t": "&#9;"}
MAX_DEPTH = 25
"""libxml2 caps its indent at 60 spaces; deeper trees go the lxml way."""


def _escape(value: str, pattern: re.Pattern[str], table: dict[str, str]) -> str:
    return pattern.sub(lambda m: table[m.group()], value)


class _Unsure(Exception):
    """Something only lxml can say how to write (or refuse)."""


@functools.lru_cache(maxsize=256)
def _root_start(tag: str, namespaces: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, str]]:
    """The root's start tag up to its attributes (lxml writes the declarations) and the prefix of each
    namespace, or no prefixes at all when one namespace has two (lxml's choice is not ours to guess)."""
    text = etree.tostring(etree.Element(tag, nsmap=dict(namespaces))).decode("utf-8")  # type: ignore[arg-type]
    uris = [uri for _, uri in namespaces]
    prefixes = {uri: prefix for prefix, uri in namespaces} if len(set(uris)) == len(uris) else {}
    return text.removesuffix("/>"), prefixes


def _qname(tag: str, prefixes: dict[str, str]) -> str:
    """``{uri}local`` as ``prefix:local``; unsure when the root declares no (single) prefix for the namespace
    or the name is one lxml would have to judge."""
    local = tag
    if tag[0] == "{":
        uri, _, local = tag[1:].partition("}")
        prefix = prefixes.get(uri)
        if prefix is None:
            raise _Unsure(tag)
        tag = f"{prefix}:{local}"
    if not _NAME.fullmatch(local):
        raise _Unsure(tag)
    return tag


class _Names(dict[str, str]):
    """Written names by Clark tag, for one set of root prefixes (kept across messages)."""

    def __init__(self, prefixes: dict[str, str]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def __missing__(self, tag: str) -> str:
        found = self[tag] = _qname(tag, self.prefixes)
        return found


def _attributes(node: Node, names: _Names) -> str:
    parts = []
    for name, value in (node.attrib or {}).items():
        if not isinstance(value, str) or _NOT_XML.search(value):
            raise _Unsure(name)
        parts.append(f' {names[name]}="{_escape(value, _ATTR, _ATTR_ESCAPES)}"')
    return "".join(parts)


_PLAIN = re.compile("[^\t\n\x20-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Anything in a text but characters written as they are: one search answers "nothing to do" for most texts.
A text of letters and digits only (``str.isalnum``: codes, numbers, most names; ~4x cheaper than the search)
has none of them: no markup character, control, surrogate or non-character is a letter or a digit."""
_INDENTS = ["\n" + "  " * level for level in range(MAX_DEPTH + 2)]


def _text(text: object) -> str:
    if not isinstance(text, str) or _NOT_XML.search(text):
        raise _Unsure("text")
    return _escape(text, _TEXT, _TEXT_ESCAPES)


def _element(node: Node, level: int, formatted: bool, names: _Names, out: list[str], start: str | None = None) -> None:
    """Write ``node``; ``start``: its start tag up to ``>`` when not the plain one (the root's)."""
    if level > MAX_DEPTH:
        raise _Unsure("depth")
    name, text, children = names[node.tag], node.text, node.children
    if start is None:
        start = f"<{name}{_attributes(node, names)}" if node.attrib else "<" + name
    if text is None:
        if not children:
            out.append(start + "/>")
            return
        out.append(start + ">")
    else:
        if type(text) is not str or (not text.isalnum() and _PLAIN.search(text)):
            text = _text(text)
        if not children:
            out.append(f"{start}>{text}</{name}>")
            return
        out.append(f"{start}>{text}")
        formatted = False  # libxml2 does not indent inside an element that holds text
    if formatted:
        indent = _INDENTS[level + 1]
        inline = level < MAX_DEPTH  # a child's own depth check passes
        for child in children:
            if child.children or child.attrib or not inline:
                out.append(indent)
                _element(child, level + 1, True, names, out)
                continue
            # a leaf without attributes, most of a message's elements: written here, no call of its own
            leaf, text = names[child.tag], child.text
            if text is None:
                out.append(f"{indent}<{leaf}/>")
                continue
            if type(text) is not str or (not text.isalnum() and _PLAIN.search(text)):
                text = _text(text)
            out.append(f"{indent}<{leaf}>{text}</{leaf}>")
        out.append(f"{_INDENTS[level]}</{name}>")
    else:
        for child in children:
            _element(child, level + 1, False, names, out)
        out.append(f"</{name}>")


_NAMES: dict[tuple[tuple[str, str], ...], _Names] = {}
DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"


def _names(nsmap: dict[str, str], tag: str) -> tuple[str, _Names]:
    key = tuple(nsmap.items())
    start, prefixes = _root_start(tag, key)
    names = _NAMES.get(key)
    if names is None:
        names = _NAMES[key] = _Names(prefixes)
    if not prefixes and nsmap:
        raise _Unsure("prefixes")
    return start, names


def serialise(root: Node, nsmap: dict[str, str]) -> bytes | None:
    """``etree.tostring(to_lxml(root, nsmap), xml_declaration=True, encoding="UTF-8", pretty_print=True)``,
    or None when only lxml can say (then call exactly that)."""
    out = [DECLARATION]
    try:
        start, names = _names(nsmap, root.tag)
        _element(root, 0, True, names, out, start + (_attributes(root, names) if root.attrib else ""))
    except _Unsure:
        return None
    out.append("\n")
    return "".join(out).encode("utf-8")


class Spelling:
    """How :func:`serialise` spells the elements of one root and namespace map, for a writer that writes the
    same bytes without a tree (gateway.mapping.reverse_text): the root's start tag, each name, each level's
    indent and each text. ``Unsure`` is raised wherever :func:`serialise` would hand over to lxml."""

    Unsure = _Unsure
    indents = _INDENTS
    max_depth = MAX_DEPTH

    def __init__(self, tag: str, nsmap: dict[str, str], attributes: tuple[tuple[str, str], ...]) -> None:
        start, self.names = _names(nsmap, tag)
        root = Node(tag)
        for name, value in attributes:
            root.set(name, value)
        self.start = start + (_attributes(root, self.names) if root.attrib else "")
        """The root's start tag without its ``>``."""

    def name(self, tag: str) -> str:
        return self.names[tag]

    @staticmethod
    def text(text: object) -> str:
        """``text`` as the serialiser writes it in an element (Unsure: a value only lxml may judge)."""
        if type(text) is not str or (not text.isalnum() and _PLAIN.search(text)):
            return _text(text)
        return text
