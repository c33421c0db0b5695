"""The onboarding path: a vendor dialect added as a mapping file plus fixtures, with no Python change,
converts to schema-valid zakLk01; and so do the three example dialects under mappings/examples/."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.mapping import ConversionError, Registry, default_dirs
from gateway.pipeline import Converter
from gateway.reference import available
from gateway.render.schemas import check

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "mappings" / "examples"
needs_schemas = pytest.mark.skipif(not available(), reason="reference dir (official StUF-ZKN schemas) absent")

FOURTH_MAPPING = """\
overstap-mapping: 1
name: jeugdportaal-315
title: A youth-care portal's verzoek om toewijzing (JW315), flat and in Dutch formats
wet: jw
bericht: "315"
versie: "3.0"
match:
  namespace: urn:test:jeugdportaal:2
  root: Aanvraag
namespaces:
  j: urn:test:jeugdportaal:2
value_maps:
  eenheid:
    csv: eenheden.csv
    fallback: error
  geslacht: {values: {jongen: "1", meisje: "2"}, fallback: default, default: "0"}
rules:
  wet: {constant: jw}
  soort: {constant: verzoek}
  berichtcode: {constant: "446"}
  versie: {constant: "3.0"}
  afzender: {path: j:Aanbieder/@agb, required: true}
  ontvanger: {path: j:Gemeente, transform: {zeropad: 4}}
  identificatie: j:Kenmerk
  dagtekening: {path: j:Datum, transform: {date: dd-mm-yyyy}}
  clients:
    each: j:Jeugdige
    rules:
      bsn: {path: j:Bsn, transform: {zeropad: 9}}
      naam.geslachtsnaam.naam: j:Achternaam
      naam.voornamen: j:Roepnaam
      geboortedatum: {path: j:Geboortedatum, transform: {date: dd-mm-yyyy}}
      geslacht: {path: j:Geslacht, map: geslacht}
      extra.school: j:School
      producten:
        each: j:Zorg
        rules:
          categorie: {path: j:Code, transform: {substring: [0, 2]}}
          code: j:Code
          ingangsdatum: {path: j:Start, transform: {date: dd-mm-yyyy}}
          omvang.volume: {path: j:Aantal, transform: {number: {decimal: ","}}}
          omvang.eenheid: {path: j:Eenheid, transform: [trim, lower], map: eenheid}
          omvang.frequentie: {constant: "2"}
          verwijzer.type: {constant: "02", note: huisarts}
          verwijzer.zorgverlenercode: j:Verwijzer
tests:
  - name: the portal's request converts
    input: fixtures/aanvraag.xml
    expect:
      wet: jw
      ontvanger: "0599"
      clients.0.bsn: "077665545"
      clients.0.producten.0: {categorie: "45", code: 45A48, ingangsdatum: "2024-09-02"}
      clients.0.producten.0.omvang: {volume: "90", eenheid: "01", frequentie: "2"}
      clients.0.extra.school: De Regenboog
    expect_unmapped: []
"""

FOURTH_FIXTURE = """\
<?xml version="1.0" encoding="UTF-8"?>
<Aanvraag xmlns="urn:test:jeugdportaal:2">
  <Aanbieder agb="41223344"/>
  <Gemeente>599</Gemeente>
  <Kenmerk>JP-2024-31</Kenmerk>
  <Datum>19-08-2024</Datum>
  <Jeugdige>
    <Bsn>77665545</Bsn>
    <Achternaam>Kok</Achternaam>
    <Roepnaam>Sem</Roepnaam>
    <Geboortedatum>03-02-2014</Geboortedatum>
    <Geslacht>jongen</Geslacht>
    <School>De Regenboog</School>
    <Zorg>
      <Code>45A48</Code>
      <Start>02-09-2024</Start>
      <Aantal>90</Aantal>
      <Eenheid>Minuten</Eenheid>
      <Verwijzer>01012345</Verwijzer>
    </Zorg>
  </Jeugdige>
</Aanvraag>
"""


def _write_fourth(folder: Path) -> Path:
    (folder / "fixtures").mkdir(parents=True)
    (folder / "eenheden.csv").write_text("source,target\nminuten,01\nuren,04\nstuks,82\n", encoding="utf-8")
    (folder / "fixtures" / "aanvraag.xml").write_text(FOURTH_FIXTURE, encoding="utf-8")
    mapping = folder / "jeugdportaal.yaml"
    mapping.write_text(FOURTH_MAPPING, encoding="utf-8")
    return mapping


@needs_schemas
def test_a_fourth_dialect_from_a_mapping_file_and_fixtures_alone(tmp_path: Path) -> None:
    vendor = tmp_path / "mappings" / "jeugdportaal"
    mapping = _write_fourth(vendor)
    registry = Registry(dirs=[*default_dirs(), tmp_path / "mappings"])
    assert not registry.errors, registry.errors
    assert "jeugdportaal-315" in registry.names()
    converter = Converter(registry, validate=True)  # dialect detected from match:, not named
    result = converter.convert((vendor / "fixtures" / "aanvraag.xml").read_bytes(), "aanvraag.xml")
    assert result.mapping.name == "jeugdportaal-315"
    (output,) = result.outputs
    check(output.xml, "zkn")  # schema-valid zakLk01 (also checked by validate=True)
    root = etree.fromstring(output.xml)
    ns = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
          "BG": "http://www.egem.nl/StUF/sector/bg/0310"}
    assert root.findtext(".//BG:inp.bsn", namespaces=ns) == "077665545"
    assert root.findtext(".//ZKN:isVan/ZKN:gerelateerde/ZKN:code", namespaces=ns) == "JWAANV"  # an aanvraagzaak
    assert root.xpath("string(//StUF:extraElement[@naam='product.omvang.eenheid'])", namespaces=ns) == "01"
    assert root.xpath("string(//StUF:extraElement[@naam='vendor.school'])", namespaces=ns) == "De Regenboog"

    runner = CliRunner()
    checked = runner.invoke(main, ["mapping", "check", str(mapping)])
    assert checked.exit_code == 0, checked.output
    tested = runner.invoke(main, ["mapping", "test", str(mapping)])
    assert tested.exit_code == 0, tested.output
    assert tested.output.splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


EXAMPLE_FIXTURES = sorted(EXAMPLES.glob("*/fixtures/toewijzing.xml"))


def test_there_are_four_example_dialects() -> None:
    assert {p.parts[-3] for p in EXAMPLE_FIXTURES} == {"flat-no-namespace", "dutch-formats", "vendor-extensions",
                                                       "regie-attributes"}


@needs_schemas
@pytest.mark.parametrize("fixture", EXAMPLE_FIXTURES, ids=lambda p: p.parts[-3])
def test_example_dialects_convert_to_schema_valid_zaklk01_by_detection(fixture: Path) -> None:
    registry = Registry([*default_dirs(), EXAMPLES])  # the examples take part in detection only when asked
    result = Converter(registry, validate=True).convert(fixture.read_bytes(), fixture.name)
    assert result.mapping.file == str(fixture.parents[1] / "mapping.yaml")
    assert result.outputs and result.unmapped == []
    for output in result.outputs:
        check(output.xml, "zkn")



def test_the_examples_take_no_part_in_detection_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped examples are documentation: by default detection neither knows nor picks them; naming
    their folder in OVERSTAP_MAPPING_PATH (or a file with --mapping / ``mappings:``) opts in."""
    fixture = EXAMPLES / "flat-no-namespace" / "fixtures" / "toewijzing.xml"
    monkeypatch.delenv("OVERSTAP_MAPPING_PATH", raising=False)
    plain = Registry()
    assert not [m for m in plain.all() if Path(m.file).is_relative_to(EXAMPLES)]
    assert plain.names() and "iwmo20-wmo301" in plain.names()
    with pytest.raises(ConversionError, match="unknown dialect"):
        Converter(plain).convert(fixture.read_bytes(), fixture.name)
    by_file = Registry(files=[EXAMPLES / "flat-no-namespace" / "mapping.yaml"])
    assert [m.name for m in by_file.all() if m.name.startswith("example-")] == ["example-flat"]
    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", str(EXAMPLES))
    assert Converter(Registry()).convert(fixture.read_bytes(), fixture.name).mapping.name == "example-flat"


def test_a_file_named_and_on_a_relative_mapping_path_is_one_mapping(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """The docs say ``OVERSTAP_MAPPING_PATH=mappings/examples overstap convert ... --mapping <file in it>``: the
    relative folder's path and the named file's resolved one are the same file, not two mappings of one name
    (which warned "mapping name ... is also used by" that same file, and kept every later reload from applying)."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", "mappings/examples")
    named = "mappings/examples/vendor-extensions/mapping.yaml"
    registry = Registry(files=[Path(named)])
    assert registry.errors == []
    assert registry.get("example-vendor-extensions").file.endswith(named)
    assert registry.reload() == []
    fixture = "mappings/examples/vendor-extensions/fixtures/toewijzing.xml"
    done = CliRunner().invoke(main, ["convert", fixture, "--mapping", named, "--out", str(tmp_path / "out"),
                                     "--state", "none", "--no-validate"])
    assert done.exit_code == 0, done.output
    assert "mapping not loaded" not in done.output
    assert done.output.startswith(f"ok   {fixture}: example-vendor-extensions -> ")
