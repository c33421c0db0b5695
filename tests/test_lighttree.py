"""The reverse writer's light tree writes the very bytes lxml's pretty print writes, or leaves it to lxml.

Why: GGk payloads and ``convert --reverse`` outputs are compared byte for byte (tests/golden); the light
serialiser replaced ``etree.tostring`` for speed (docs/performance.md, issue 13), so every libxml2 rule it
copies (indent, escapes, mixed content, empty text) is checked here against lxml itself.
"""

from __future__ import annotations

import pytest
from lxml import etree

from gateway.mapping.lighttree import MAX_DEPTH, Node, insert_after, serialise, sub, to_lxml

NS_M, NS_I = "urn:example:m", "urn:example:i"
NSMAP = {"m": NS_M, "i": NS_I}


def _lxml_bytes(root: Node, nsmap: dict[str, str]) -> bytes:
    return etree.tostring(to_lxml(root, nsmap), xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _tricky() -> Node:
    root = Node(f"{{{NS_M}}}Bericht")
    root.set("berichtcode", "414")
    header = sub(root, f"{{{NS_M}}}Header")
    sub(header, f"{{{NS_M}}}Code").text = "<&>\"' \r\n\tëß€𝄞"
    sub(header, f"{{{NS_M}}}Leeg").text = ""
    sub(header, f"{{{NS_M}}}Niets")
    attrs = sub(root, f"{{{NS_I}}}Attr")
    attrs.set("plain", "a")
    attrs.set(f"{{{NS_I}}}ns", "<&>\"' \r\n\tx")
    mixed = sub(root, f"{{{NS_M}}}Gemengd")
    mixed.text = "tekst"
    deep = sub(sub(mixed, f"{{{NS_I}}}Diep"), "Kaal")
    sub(deep, "Kind").text = "k"
    flat = sub(sub(root, "Vlak"), "Leeg")
    flat.set("a", "1")
    return root


def test_serialise_matches_lxml() -> None:
    root = _tricky()
    assert serialise(root, NSMAP) == _lxml_bytes(root, NSMAP)


def test_serialise_an_empty_root_and_a_text_only_root() -> None:
    root = Node("Bericht")
    assert serialise(root, {}) == _lxml_bytes(root, {})
    root.text = "x"
    assert serialise(root, {}) == _lxml_bytes(root, {})


def test_sibling_inserted_after_its_element() -> None:
    root = Node("R")
    first, _, last = sub(root, "A"), sub(root, "C"), sub(root, "B")
    insert_after(root, first, Node("B"))
    assert [c.tag for c in root.children] == ["A", "B", "C", "B"] and root.last["B"] is last
    assert serialise(root, {}) == _lxml_bytes(root, {})
    with pytest.raises(TypeError):
        insert_after(None, root, Node("X"))


@pytest.mark.parametrize("nsmap", [{"m": NS_M}, {"m": NS_M, "i": NS_I, "j": NS_I}])
def test_unsure_namespaces_are_left_to_lxml(nsmap: dict[str, str]) -> None:
    """A namespace the root does not declare (lxml invents ns0) or declares twice (lxml picks a prefix)."""
    root = Node(f"{{{NS_M}}}R")
    sub(root, f"{{{NS_I}}}A").text = "x"
    assert serialise(root, nsmap) is None


@pytest.mark.parametrize("value", ["bel\x07", "\ud800", 5])
def test_values_lxml_refuses_are_left_to_lxml(value: object) -> None:
    root = Node("R")
    sub(root, "A").text = value  # type: ignore[assignment]
    assert serialise(root, {}) is None
    with pytest.raises((ValueError, TypeError)):
        _lxml_bytes(root, {})


def test_deep_trees_are_left_to_lxml() -> None:
    root = node = Node("R")
    for _ in range(40):
        node = sub(node, "A")
    assert serialise(root, {}) is None


@pytest.mark.parametrize("text", [None, "x"])
def test_the_depth_limit_holds_for_a_leaf_its_parent_writes(text: str | None) -> None:
    """A leaf is written by its parent's loop, not by a call of its own: the depth check must still see it."""
    def chain(depth: int) -> Node:
        root = node = Node("R")
        for _ in range(depth):
            node = sub(node, "A")
        node.text = text
        return root

    assert serialise(chain(MAX_DEPTH), {}) == _lxml_bytes(chain(MAX_DEPTH), {})
    assert serialise(chain(MAX_DEPTH + 1), {}) is None


def test_iterfind_refuses_attribute_steps_as_lxml_does() -> None:
    root = Node("R")
    sub(sub(root, "A"), "B").text = "1"
    assert [n.text for n in root.iterfind(("A", "B"))] == ["1"]
    with pytest.raises(KeyError):
        root.iterfind(("A", "@x"))
    with pytest.raises(KeyError):
        to_lxml(root, {}).iterfind("A/@x").__next__()


@pytest.mark.parametrize("value", ["\x7f", "\x85", "\u2028", "\ufeff", "\ufffd", "a\tb", " rand ", "\U0001f600",
                                   "\ue000"])
def test_edge_characters_written_as_lxml_writes_them(value: str) -> None:
    """C1 controls, line separator, BOM, private use, astral: valid XML characters lxml writes as they are."""
    root = Node("R")
    sub(root, "A").text = value
    sub(root, "B").set("x", value)
    assert serialise(root, {}) == _lxml_bytes(root, {})


def test_letters_and_digits_are_written_as_they_are() -> None:
    """The serialiser writes a text of letters and digits (``str.isalnum``) without its character search: no
    character Python counts as a letter or digit needs an escape or is refused by lxml. Every such code point,
    and a text of a few of them, is written as lxml writes it."""
    from gateway.mapping.lighttree import _PLAIN

    assert [hex(i) for i in range(0x110000) if chr(i).isalnum() and _PLAIN.search(chr(i))] == []
    root = Node("R")
    sub(root, "A").text = "Ab12ë٣Ⅻ"
    sub(root, "B").text = "A&B"  # not letters and digits only: searched and escaped
    sub(root, "C").text = "1<2"
    assert serialise(root, {}) == _lxml_bytes(root, {})
