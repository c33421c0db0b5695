"""``refuse: REASON`` recognises a message family and refuses it as a counted outcome of its own;
``abstract: true`` makes a base that extends can use but detection never picks (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping import ConversionError, MappingError, Refused, Registry
from gateway.pipeline import Converter, describe

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "mappings/examples/regie-attributes"
DECLARATIE = FOLDER / "fixtures/declaratie.xml"
TOEWIJZING = FOLDER / "fixtures/toewijzing.xml"


def _registry() -> Registry:
    return Registry([ROOT / "dialects", FOLDER])


def test_a_refused_message_is_its_own_outcome_in_convert(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["convert", str(DECLARATIE), "--out", str(tmp_path), "--no-validate",
                                       "--mapping", str(FOLDER / "declaratie.yaml")])
    assert result.exit_code == 3, result.output
    assert result.output.startswith(f"REFUSED {DECLARATIE}: 303 declaraties go to the gemeente's declaratieportaal")
    assert "(mapping example-regie-declaratie)" in result.output
    assert "1 message(s) refused on purpose" in result.output
    assert list(tmp_path.iterdir()) == []


def test_detection_picks_the_refusing_mapping_and_the_reason_reaches_a_fault() -> None:
    converter = Converter(_registry())
    with pytest.raises(Refused) as caught:
        converter.convert(DECLARATIE.read_bytes(), "declaratie.xml")
    assert caught.value.mapping == "example-regie-declaratie"
    info = describe(caught.value, "declaratie.xml")  # what the sidecar's Fo03 and batch reports carry
    assert info.field == "refuse" and "declaratieportaal" in info.message
    assert converter.convert(TOEWIJZING.read_bytes(), "t.xml").mapping.name == "example-regie-attributes"


def test_batch_counts_refused_apart_from_failed(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.xml").write_bytes(TOEWIJZING.read_bytes())
    (inputs / "b.xml").write_bytes(DECLARATIE.read_bytes())
    out = tmp_path / "out"
    env = {"OVERSTAP_MAPPING_PATH": str(FOLDER)}
    result = CliRunner(env=env).invoke(main, ["batch", str(inputs), "--out", str(out), "--no-validate",
                                              "--workers", "0", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (out / "report.jsonl").read_text(encoding="utf-8").splitlines()]
    status = {Path(line["source"]).name: line["status"] for line in lines}
    assert status == {"a.xml": "ok", "b.xml": "refused"}
    refused = next(line for line in lines if line["status"] == "refused")
    assert refused["mapping"] == "example-regie-declaratie"
    assert "declaratieportaal" in refused["error"]["message"]
    assert '"refused": 1' in result.output and '"failed": 0' in result.output


def test_an_abstract_base_is_never_detected(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text((FOLDER / "base.yaml").read_text(encoding="utf-8") + "match:\n"
                    "  namespace: urn:voorbeeld:regie:export:3\n  root: RegieBericht\n", encoding="utf-8")
    registry = Registry([tmp_path])
    assert registry.get("example-regie-base").abstract
    with pytest.raises(ConversionError, match="unknown dialect"):
        Converter(registry).convert(TOEWIJZING.read_bytes(), "t.xml")
    with pytest.raises(ConversionError, match="is abstract"):
        Converter(registry, mappings=["example-regie-base"]).convert(TOEWIJZING.read_bytes(), "t.xml")


def test_abstract_and_refuse_are_not_inherited() -> None:
    registry = _registry()
    child = registry.get("example-regie-attributes")
    assert not child.abstract and child.refuse is None
    assert child.top_rule("afzender") is not None  # the header rules come from the abstract base
    assert registry.get("example-regie-declaratie").refuse


@pytest.mark.parametrize(("extra", "message"), [
    ("refuse: ''\n", "refuse: is the reason text"),
    ("refuse: why\n", "needs match:"),
    ("abstract: yes please\n", "abstract: is true or false"),
])
def test_refuse_and_abstract_are_checked(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"overstap-mapping: 1\nname: m\n{extra}", encoding="utf-8")
    with pytest.raises(MappingError, match=message):
        Registry([tmp_path / "none"]).get(str(path))


@pytest.mark.parametrize(("rule", "message"), [
    ("soort: {constant: declaratie}", "constant 'declaratie' for soort is not in the canonical berichtsoorten"),
    ("clients: {each: c, rules: {geslacht: {constant: '7'}}}", "not in COD046 Geslacht"),
])
def test_constants_are_checked_against_the_canonical_code_lists(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(f"overstap-mapping: 1\nname: m\nrules:\n  {rule}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "check", str(path)])
    assert result.exit_code == 1 and message in result.output, result.output


def test_no_matching_mapping_names_the_near_misses() -> None:
    other = TOEWIJZING.read_bytes().replace(b'berichtsoort="toewijzing"', b'berichtsoort="mutatie"')
    with pytest.raises(ConversionError) as caught:
        Converter(_registry()).convert(other, "m.xml")
    message = caught.value.message
    assert "near misses:" in message
    assert "example-regie-attributes (match.xpath '@berichtsoort' wanted 'toewijzing', found 7 letters)" in message
    assert "example-regie-declaratie (match.xpath '@berichtsoort' wanted 'declaratie', found 7 letters)" in message
    assert "example-regie-base" not in message  # abstract: never a candidate


def test_mapping_check_accepts_a_folder() -> None:
    result = CliRunner().invoke(main, ["mapping", "check", str(FOLDER)])
    assert result.exit_code == 0, result.output
    assert sorted(line.split(": ")[1].split(" ")[0] for line in result.output.splitlines()) == [
        "example-regie-attributes", "example-regie-base", "example-regie-declaratie"]
    assert "convert --reverse refused: the omvang is one text" in result.output


def test_a_fail_line_names_the_picked_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(TOEWIJZING.read_bytes().replace(b'geslacht="V"', b'geslacht="X"'))
    result = CliRunner(env={"OVERSTAP_MAPPING_PATH": f"{ROOT / 'dialects'}:{FOLDER}"}).invoke(
        main, ["convert", str(bad), "--out", str(tmp_path / "o"), "--no-validate"])
    assert result.exit_code == 1
    assert result.output.startswith(f"FAIL {bad}:9: clients.0.geslacht")
    assert result.output.rstrip().endswith("[mapping example-regie-attributes]"), result.output


def test_overstap_mapping_path_adds_to_the_built_in_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.mapping import default_dirs

    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", str(tmp_path))
    dirs = default_dirs()
    assert dirs[-1] == tmp_path and any(d.name == "dialects" for d in dirs)
    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", f"{FOLDER}")
    names = Registry().names()
    assert "iwmo20-wmo301" in names and names.count("example-regie-attributes") == 1


def test_the_readme_convert_example_names_files_that_exist() -> None:
    import glob
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pattern = re.search(r"overstap convert (\S+\*\.xml) --out", readme)
    assert pattern is not None and glob.glob(str(ROOT / pattern.group(1)))


def test_explain_names_the_base_file_for_an_inherited_shorthand_rule_in_a_merged_group(tmp_path: Path) -> None:
    from gateway.tooling.explain import explain

    child = tmp_path / "child.yaml"
    child.write_text(f"overstap-mapping: 1\nname: regie-child\nextends: {FOLDER / 'mapping.yaml'}\n"
                     "rules:\n  clients:\n    rules:\n      extra.wijkteam: {path: rx:Regievoering/@wijkteam}\n",
                     encoding="utf-8")
    ex = explain(TOEWIJZING.read_bytes(), "t.xml", registry=_registry(), mapping=str(child))
    rules = {row.field: row.rule for row in ex.rows}
    assert rules["clients.0.extra.wijkteam"].startswith("child.yaml:")
    assert rules["clients.0.extra.regievoerder"].startswith("mapping.yaml:")  # shorthand, inherited
    assert rules["clients.0.naam.geslachtsnaam.naam"].startswith("mapping.yaml:")


@pytest.mark.parametrize("path", ["concat(@a, @b)", "../@kenmerk", "/RegieBericht/@code"])
def test_mapping_check_lists_unwritable_paths_as_one_way(tmp_path: Path, path: str) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"overstap-mapping: 1\nname: m\nmatch: {{root: X}}\nrules:\n  extra.x: \"{path}\"\n",
                       encoding="utf-8")
    result = CliRunner().invoke(main, ["mapping", "check", str(mapping)])
    assert result.exit_code == 0, result.output
    assert f"one-way rules: extra.x (path {path!r} cannot be written back)" in result.output
