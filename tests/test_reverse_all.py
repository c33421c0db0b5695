"""Reverse of every shipped and example mapping either writes a message or refuses with a clear error,
never a traceback (issue 12): mapping check announces the refusals beforehand."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping import ConversionError, Registry
from gateway.mapping.reverse import unmap
from gateway.pipeline import Converter

ROOT = Path(__file__).resolve().parents[1]
REGIE = ROOT / "mappings/examples/regie-attributes"
REGISTRY = Registry([ROOT / "dialects", ROOT / "mappings", ROOT / "mappings/examples"])  # examples: opted in
SAMPLES = [REGIE / "fixtures/toewijzing.xml", *sorted((ROOT / "tests/fixtures/iwmo21").glob("*.xml"))[:6]]


def _berichten() -> list:
    converter = Converter(REGISTRY)
    out = []
    for sample in SAMPLES:
        source_map = converter.to_model(sample.read_bytes(), sample.name)
        out.append(source_map[2].bericht)
    return out


BERICHTEN = _berichten()


@pytest.mark.parametrize("name", [m.name for m in REGISTRY.all() if not m.abstract and not m.refuse])
def test_reverse_writes_or_refuses_cleanly(name: str) -> None:
    mapping = REGISTRY.get(name)
    for bericht in BERICHTEN:
        try:
            written = unmap(mapping, bericht)
        except ConversionError as exc:
            assert exc.message and exc.field, exc  # a named, clean refusal
            continue
        assert written.root is not None and len(written.root)  # a message was written


def test_reverse_of_the_regie_mapping_is_refused_with_its_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", "--reverse", "--mapping", str(REGIE / "mapping.yaml"),
                                       str(REGIE / "fixtures/toewijzing.xml"), "--out", str(tmp_path),
                                       "--no-validate"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "does not write messages back: the omvang is one text" in result.output
    check = CliRunner().invoke(main, ["mapping", "check", str(REGIE / "mapping.yaml")])
    assert "convert --reverse refused: the omvang is one text" in check.output


def test_a_split_part_on_an_attribute_is_written_back(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(
        f"overstap-mapping: 1\nname: regie-split\nextends: {REGIE / 'base.yaml'}\nbericht: '301'\n"
        "match: {namespace: 'urn:voorbeeld:regie:export:3', root: RegieBericht}\n"
        "rules:\n  soort: {constant: toewijzing}\n  extra.a: {path: r:Afzender/@kenmerk, transform: [{split: '-'}, "
        "{index: 0}]}\n  extra.b: {path: r:Afzender/@kenmerk, transform: [{split: '-'}, {index: 1}]}\n",
        encoding="utf-8")
    registry = Registry([ROOT / "dialects"], files=[child])
    bericht = Converter(registry, mappings=[str(child)]).to_model(SAMPLES[0].read_bytes(), "t.xml")[2].bericht
    written = unmap(registry.get(str(child)), bericht)
    ns = {"r": "urn:voorbeeld:regie:export:3"}
    assert written.root.xpath("string(r:Afzender/@kenmerk)", namespaces=ns) == "RG-2024"
