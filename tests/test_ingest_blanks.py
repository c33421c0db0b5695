"""A converter whose mappings cannot see the blank text between elements parses without it (libxml2's
remove_blank_text: ~10 µs a message less to build and walk). One that can keeps it: an XPath function or
comparison over an element with children reads the blanks between its children (mapping/blanks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.ingest import parse_xml, read
from gateway.ledger.staged import ThrowawayLedger
from gateway.mapping import Registry
from gateway.mapping.blanks import NODES_ONLY
from gateway.pipeline import Converter

ROOT = Path(__file__).resolve().parents[1]
FLAT = ROOT / "mappings" / "examples" / "flat-no-namespace"
XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<a xmlns="urn:x">
  <b> </b>
  <c>
    <d> waarde </d>
    <e>een <f/> gemengd</e>
  </c>
  <g xml:space="preserve">  <h/>  </g>
</a>
"""


def test_read_without_blanks_keeps_every_leaf() -> None:
    root = read(XML, "m.xml", blanks=False).root
    ns = {"x": "urn:x"}
    assert root.text is None and all(el.tail is None for el in root.iterdescendants("{urn:x}b", "{urn:x}c"))
    assert root.find("x:b", ns).text == " "  # a leaf's blank text is its own: kept
    assert root.find("x:c/x:d", ns).text == " waarde "
    assert root.find("x:c/x:e", ns).text == "een " and root.find("x:c/x:e/x:f", ns).tail == " gemengd"
    assert root.find("x:g", ns).text == "  "  # xml:space="preserve" is honoured
    assert [el.sourceline for el in root.iter()] == [2, 3, 4, 5, 6, 6, 8, 8]


def test_read_and_parse_keep_every_node_by_default() -> None:
    whole = etree.tostring(etree.fromstring(XML))
    assert etree.tostring(read(XML, "m.xml").root) == whole
    assert etree.tostring(parse_xml(XML, "m.xml")) == whole


@pytest.mark.parametrize(("expr", "nodes_only"), [
    ("a/b", True), ("m:a | m:b/m:c", True), ("//x[1]/@y", True), (".", True), ("../a", True),
    ("local-name()", True), ("string(a)", False), ("normalize-space(a)", False), ("a/text()", False),
    ('a = "x"', False), ("a and b", False), ("node()", False), ("a[@x]", False), ("count(a)", False),
])
def test_only_plain_location_paths_cannot_see_blanks(expr: str, nodes_only: bool) -> None:
    assert (NODES_ONLY.fullmatch(expr) is not None) is nodes_only


def test_the_built_in_dialects_convert_without_blanks() -> None:
    assert not shared_registry().blanks_matter()
    sample = ROOT / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
    assert parse_xml(sample.read_bytes()).text == "\n\t"  # indented with tabs
    source = Converter(shared_registry(), ledger=ThrowawayLedger()).to_model(sample.read_bytes(), sample.name)[0]
    assert source.root.text is None  # read without the blank text


def test_a_mapping_reading_an_elements_string_value_keeps_the_blanks(tmp_path: Path) -> None:
    """normalize-space() of an element with children joins the texts of its children with the blanks between
    them: without those blanks "Pieter Jan" would become "PieterJan"."""
    text = (FLAT / "mapping.yaml").read_text(encoding="utf-8").replace("name: example-flat", "name: blanks-demo")
    text = text.replace("      naam.voorletters: Voorletters\n",
                        '      naam.voorletters: Voorletters\n      naam.voornamen: "normalize-space(Voornamen)"\n')
    (tmp_path / "mapping.yaml").write_text(text[:text.index("\nignore:")] + "\n", encoding="utf-8")
    registry = Registry(dirs=[tmp_path])
    assert registry.blanks_matter() and registry.get("blanks-demo").blanks_matter
    xml = (FLAT / "fixtures" / "toewijzing.xml").read_bytes().replace(
        b"<Voorletters>PJ</Voorletters>",
        b"<Voorletters>PJ</Voorletters>\n    <Voornamen>\n      <Voornaam>Pieter</Voornaam>\n"
        b"      <Voornaam>Jan</Voornaam>\n    </Voornamen>", 1)
    result = Converter(registry=registry, ledger=ThrowawayLedger()).to_model(xml, "m.xml")[2]
    assert result.data["clients"][0]["naam"]["voornamen"] == "Pieter Jan"


def test_a_reload_that_brings_such_a_mapping_keeps_the_blanks_from_then_on(tmp_path: Path) -> None:
    text = (FLAT / "mapping.yaml").read_text(encoding="utf-8")
    lean = text[:text.index("\nignore:")].replace("when: \"Status = 'ingetrokken'\"", "when: Status") + "\n"
    (tmp_path / "mapping.yaml").write_text(lean.replace("name: example-flat", "name: lean"), encoding="utf-8")
    registry = Registry(dirs=[tmp_path])
    assert not registry.get("lean").blanks_matter and not registry.blanks_matter()
    (tmp_path / "other.yaml").write_text(lean.replace("name: example-flat", "name: other").replace(
        "      naam.voorletters: Voorletters\n",
        '      naam.voorletters: Voorletters\n      naam.voornamen: "string(Voornamen)"\n'), encoding="utf-8")
    assert registry.reload() == []
    assert registry.blanks_matter()
