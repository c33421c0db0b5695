"""Reverse writes an element that several rules read (or that a ``when:`` names) once, not once per rule
(issue 12: the third-party namespace-less "iWMO 3.2" came back with two ``<BerichtCode>``s, which no
reader of that dialect accepts). A second rule with another value for the same element is reported as
unplaced instead of overwriting or repeating it."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.mapping import Registry
from gateway.mapping.reverse import unmap
from gateway.pipeline import Converter

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "mappings/examples/thirdparty-iwmo32"
MAPPING = FOLDER / "verzoek.yaml"
FIXTURE = FOLDER / "fixtures/verzoek.xml"


def _reversed(mapping: Path, bericht_of: Path = FIXTURE) -> tuple[etree._Element, list[str]]:
    registry = Registry(files=[mapping])  # the example, opted in by naming its file
    _, compiled, result = Converter(registry, mappings=[str(mapping)]).to_model(bericht_of.read_bytes(), "v.xml")
    written = unmap(compiled, result.bericht)
    return written.root, written.unplaced


def test_two_rules_reading_berichtcode_write_it_once() -> None:
    root, unplaced = _reversed(MAPPING)
    assert [e.text for e in root.iter("BerichtCode")] == ["302"]  # the library's number, by the reversed map
    assert root.find("Header")[0].tag == "BerichtCode" and unplaced == []
    again = Converter(Registry(files=[MAPPING]), mappings=[str(MAPPING)]).to_model(etree.tostring(root), "r.xml")
    assert (again[2].bericht.berichtcode, again[2].bericht.extra["bibliotheek_berichtcode"]) == ("444", "302")


def test_convert_reverse_of_the_third_party_dialect_has_one_berichtcode(tmp_path: Path) -> None:
    canonical, back = tmp_path / "zkn", tmp_path / "back"
    first = CliRunner().invoke(main, ["convert", str(FIXTURE), "--mapping", str(MAPPING), "--out", str(canonical),
                                      "--no-validate", "--state", "none"])
    assert first.exit_code == 0, first.output
    outputs = [str(p) for p in canonical.iterdir()]
    result = CliRunner().invoke(main, ["convert", "--reverse", "--mapping", str(MAPPING), *outputs, "--out", str(back),
                                       "--no-validate"])
    assert result.exit_code == 0, result.output
    [written] = list(back.iterdir())
    root = etree.parse(str(written)).getroot()
    assert len(root.findall("Header/BerichtCode")) == 1 and root.findtext("Header/BerichtCode") == "302"
    registry = Registry(files=[MAPPING])
    assert registry.match(root).name == "example-thirdparty-verzoek"  # detected again by its own match:


def test_a_when_condition_on_berichtcode_does_not_add_a_second_one(tmp_path: Path) -> None:
    text = MAPPING.read_text(encoding="utf-8").replace("name: example-thirdparty-verzoek", "name: tp-when")
    text = text.replace("  wet: {constant: wmo}\n", "  wet: {constant: wmo}\n  ontvanger: {path: Header/Ontvanger, "
                        "when: \"Header/BerichtCode = '302'\"}\n", 1)
    text = text.replace("  ontvanger: {path: Header/Ontvanger, required: true}\n", "")
    shutil.copytree(FOLDER / "fixtures", tmp_path / "fixtures")  # a test input is in the mapping's folder
    mapping = tmp_path / "when.yaml"
    mapping.write_text(text, encoding="utf-8")
    root, unplaced = _reversed(mapping)
    assert [e.text for e in root.iter("BerichtCode")] == ["302"]  # the when: wrote it first; berichtcode shares it
    assert root.findtext("Header/Ontvanger") == "0384" and unplaced == []


def test_another_value_for_a_shared_element_is_reported_not_written(tmp_path: Path) -> None:
    registry = Registry(files=[MAPPING])
    _, compiled, result = Converter(registry, mappings=[str(MAPPING)]).to_model(FIXTURE.read_bytes(), "v.xml")
    changed = result.bericht.model_copy(update={"extra": {"bibliotheek_berichtcode": "999"}})
    written = unmap(compiled, changed)
    assert [e.text for e in written.root.iter("BerichtCode")] == ["302"]
    assert written.unplaced == ["extra.bibliotheek_berichtcode"]
