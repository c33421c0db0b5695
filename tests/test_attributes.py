"""Attributes count like element values wherever "nothing is silently dropped" is promised (issue 12).

The attribute-heavy example dialect (mappings/examples/regie-attributes) reads every data attribute.
Taking away the rules that read any one attribute must make the unmapped scan, ``convert``,
``explain`` and a mapping test with ``expect_unmapped: []`` name it, with its line.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_registry import shared_registry

from gateway.cli import main
from gateway.mapping import ConversionError, Registry
from gateway.mapping.attributes import footprint
from gateway.pipeline import Converter
from gateway.tooling.explain import explain, plain_lines
from gateway.tooling.mappingtest import run_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "mappings/examples/regie-attributes/mapping.yaml"
SAMPLE = EXAMPLE.parent / "fixtures/toewijzing.xml"


def _registry() -> Registry:
    """The dialects and the example, compiled once per process (tests/shared_registry.py: ~0.5 s each, 32 a run);
    a test's own child mapping is compiled on the spot by its path, as the CLI does."""
    return shared_registry([ROOT / "dialects"], [EXAMPLE])


def _attribute_rules() -> dict[str, set[tuple[str, ...]]]:
    """Attribute path (item numbers dropped) -> the rule targets reading it, as nested key paths."""
    ex = explain(SAMPLE.read_bytes(), str(SAMPLE), registry=_registry(), mapping=str(EXAMPLE))
    out: dict[str, set[tuple[str, ...]]] = {}
    for row in ex.rows:
        if "/@" not in row.source:
            continue
        keys: list[str] = []
        for part in re.split(r"\.(\d+)\.", row.field):
            if not part.isdigit():
                keys += [part, "rules"]
        out.setdefault(row.source, set()).add(tuple(keys[:-1]))
    return out


ATTRIBUTES = _attribute_rules()


def _without(tmp_path: Path, targets: set[tuple[str, ...]]) -> Path:
    """A child mapping of the example that removes ``targets`` (``field: null``) and keeps its tests."""
    rules: dict = {}
    for keys in targets:
        node = rules
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = None
    import yaml

    text = yaml.safe_dump({"overstap-mapping": 1, "name": "regie-minus", "extends": str(EXAMPLE), "rules": rules,
                           "tests": [{"name": "all attributes used", "input": SAMPLE.name, "expect_unmapped": []}]},
                          allow_unicode=True)
    (tmp_path / SAMPLE.name).write_bytes(SAMPLE.read_bytes())  # a test input is in the mapping's folder
    path = tmp_path / "minus.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_reads_many_attributes_and_leaves_none() -> None:
    assert len(ATTRIBUTES) >= 20
    result = Converter(_registry(), mappings=[str(EXAMPLE)]).convert(SAMPLE.read_bytes(), str(SAMPLE))
    assert result.unmapped == []


@pytest.mark.parametrize("attribute", sorted(ATTRIBUTES))
def test_removing_an_attribute_rule_is_reported_everywhere(attribute: str, tmp_path: Path) -> None:
    child = _without(tmp_path, ATTRIBUTES[attribute])
    registry = _registry()
    try:
        result = Converter(registry, mappings=[str(child)]).convert(SAMPLE.read_bytes(), str(SAMPLE))
    except ConversionError as exc:  # a field the canonical model requires: the message fails, loudly
        assert "required" in exc.message and exc.field, exc
        return
    got = {(u.path, u.line) for u in result.unmapped}
    plain = re.sub(r"\[\d+\]", "", attribute.split(" (line ")[0])
    assert any(path == plain and line for path, line in got), (attribute, got)
    cli = CliRunner().invoke(main, ["convert", str(SAMPLE), "--mapping", str(child), "--out", str(tmp_path / "o"),
                                    "--no-validate"])
    assert re.search(rf"not mapped: {re.escape(plain)} \(line \d+\)", cli.output), cli.output
    tested = run_file(child, registry)
    assert not tested.ok
    assert any(plain in detail for case in tested.cases for detail in case.details)


def test_explain_gives_attribute_fields_their_line() -> None:
    ex = explain(SAMPLE.read_bytes(), str(SAMPLE), registry=_registry(), mapping=str(EXAMPLE))
    rows = {row.field: row for row in ex.rows}
    assert rows["clients.0.geboortedatum"].line == 9
    assert rows["clients.0.geboortedatum"].source.endswith("/@geboren")
    assert rows["clients.0.producten.1.omvang.volume"].line == 16  # where the start tag ends
    assert "Every source element with a value was used" in "\n".join(plain_lines(ex))


def test_xsi_and_namespace_declarations_are_not_data(tmp_path: Path) -> None:
    """The sample carries xmlns:*, xsi:schemaLocation: none of them is reported."""
    result = Converter(_registry(), mappings=[str(EXAMPLE)]).convert(SAMPLE.read_bytes(), str(SAMPLE))
    assert not any("schemaLocation" in u.path or "xmlns" in u.path for u in result.unmapped)
    odd = SAMPLE.read_bytes().replace(b'versie="2.0"', b'versie="2.0" kleur="blauw" leeg=" "')
    result = Converter(_registry(), mappings=[str(EXAMPLE)]).convert(odd, "odd.xml")
    assert [(u.path, u.line) for u in result.unmapped] == [("/RegieBericht/@kleur", 6)]


def test_an_ignored_attribute_is_not_reported(tmp_path: Path) -> None:
    odd = tmp_path / "odd.xml"
    odd.write_bytes(SAMPLE.read_bytes().replace(b'agb="87654321"', b'agb="87654321" intern="x"'))
    child = tmp_path / "child.yaml"
    child.write_text(f"overstap-mapping: 1\nname: regie-ign\nextends: {EXAMPLE}\n"
                     "ignore:\n  - path: r:Ontvanger/@intern\n    reason: internal flag\n", encoding="utf-8")
    registry = _registry()
    before = Converter(registry, mappings=[str(EXAMPLE)]).convert(odd.read_bytes(), str(odd))
    assert [u.path for u in before.unmapped] == ["/RegieBericht/Ontvanger/@intern"]
    after = Converter(registry, mappings=[str(child)]).convert(odd.read_bytes(), str(odd))
    assert after.unmapped == []


def test_footprint_of_function_expressions() -> None:
    assert footprint("concat(r:A/@x, ' ', @y)") == ["r:A/@x", "@y"]
    assert footprint("string(r:A[@t='1']/@v)") == []  # a predicate tests, it does not carry
    assert footprint("concat(substring(@d, 7, 4), '-', substring(@d, 4, 2))") == ["@d"]
    assert footprint("'@not-a-path'") == []


def test_a_function_expression_marks_its_attributes_read(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text(f"overstap-mapping: 1\nname: regie-fn\nextends: {EXAMPLE}\nrules:\n"
                     "  dagtekening: {constant: '2024-03-05'}\n  extra.kenmerk:\n"
                     "    path: \"concat(r:Afzender/@kenmerk, '/', r:Afzender/@aangemaakt)\"\n", encoding="utf-8")
    registry = _registry()
    result = Converter(registry, mappings=[str(child)]).convert(SAMPLE.read_bytes(), str(SAMPLE))
    assert result.bericht.extra == {"kenmerk": "RG-2024-0042/05-03-2024"}
    assert result.unmapped == []  # @aangemaakt is still read, by the concat()
