"""Every mapping file in the repo runs its own tests: cases (so `make test` covers them all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import reference
from gateway.mapping import Registry, default_dirs
from gateway.mapping.registry import discover
from gateway.tooling.mappingtest import FAIL, SKIP, report, run_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "mappings" / "examples"
FILES = discover(default_dirs(), examples=True)  # the examples too: they are tested, only never detected unasked


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry([*default_dirs(), EXAMPLES])  # the examples opt in


def test_the_repo_has_mapping_files() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"dialects/iwmo20/wmo301.yaml", "dialects/iwmo20/wmo315.yaml"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_mapping_file_passes_its_own_tests(path: Path, registry: Registry) -> None:
    result = run_file(path, registry)
    assert result.ok, "\n".join(report([result]))
    if result.cases and all(c.status == SKIP for c in result.cases):
        pytest.skip("; ".join(c.details[0] for c in result.cases))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_mapping_file_carries_tests(path: Path, registry: Registry) -> None:
    compiled = registry.get(str(path))
    if compiled.abstract:  # a base for extends converts nothing itself: the mappings extending it carry the tests
        assert any(str(path) in m.chain for m in registry.all() if m.tests), f"no tested mapping extends {path}"
        return
    assert compiled.tests, f"{path} has no tests: cases"


def test_a_changed_expectation_fails_with_a_readable_diff(tmp_path: Path, registry: Registry) -> None:
    source = (ROOT / "dialects" / "iwmo20" / "wmo301.yaml").read_text(encoding="utf-8")
    changed = source.replace("name: iwmo20-wmo301", "name: probe-wmo301").replace(
        'clients.0.producten.0.omvang.volume: "6"', 'clients.0.producten.0.omvang.volume: "7"', 1)
    assert changed.count("probe-wmo301") == 1 and '"7"' in changed
    probe = tmp_path / "probe.yaml"
    probe.write_text(changed, encoding="utf-8")
    result = run_file(probe, registry)
    if all(c.status == SKIP for c in result.cases):
        pytest.skip("reference samples absent")
    failed = [c for c in result.cases if c.status == FAIL]
    assert len(failed) == 1
    line = next(i for i, text in enumerate(changed.splitlines(), 1) if 'omvang.volume: "7"' in text)
    assert failed[0].details == [
        f"{probe}:{line}: clients.0.producten.0.omvang.volume",
        "  - expected  '7'",
        "  + actual    '6'",
    ]
    text = "\n".join(report([result]))
    assert "FAIL" in text and "4 passed, 1 failed, 0 skipped" in text


def test_overstap_mapping_test_exit_codes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    runner = CliRunner()
    good = runner.invoke(main, ["mapping", "test", str(ROOT / "dialects" / "iwmo20" / "wmo315.yaml")])
    assert good.exit_code == 0, good.output
    # its one test case reads a reference sample: it runs when the folder is there (always in CI), else skips
    expected = "1 passed, 0 failed, 0 skipped" if reference.available() else "0 passed, 0 failed, 1 skipped"
    assert good.output.splitlines()[-1] == expected
    broken = tmp_path / "broken.yaml"
    broken.write_text("overstap-mapping: 1\nname: broken\nrules:\n  wet: {constant: wmo, transfrom: trim}\n")
    bad = runner.invoke(main, ["mapping", "test", str(broken)])
    assert bad.exit_code == 1
    assert "does not compile" in bad.output and "did you mean 'transform'?" in bad.output


def test_golden_output_files_update_and_diff(tmp_path: Path, registry: Registry) -> None:
    import shutil

    folder = tmp_path / "flat"
    shutil.copytree(ROOT / "mappings" / "examples" / "flat-no-namespace", folder)
    mapping = folder / "mapping.yaml"
    mapping.write_text(mapping.read_text(encoding="utf-8").replace("name: example-flat", "name: probe-flat"))
    shutil.rmtree(folder / "expected")
    first = run_file(mapping, registry)
    assert [c.status for c in first.cases] == [FAIL, "pass"]
    assert "not found (run with --update" in first.cases[0].details[0]
    run_file(mapping, registry, update=True)
    golden = folder / "expected" / "client1-toewijzing1-creeer.xml"
    assert golden.read_text(encoding="utf-8") == (ROOT / "mappings" / "examples" / "flat-no-namespace" / "expected"
                                                   / "client1-toewijzing1-creeer.xml").read_text()
    assert run_file(mapping, registry).ok
    golden.write_text(golden.read_text(encoding="utf-8").replace(">Jansen<", ">Janssen<"), encoding="utf-8")
    changed = run_file(mapping, registry)
    details = changed.cases[0].details
    assert details[0].endswith(f"output differs from {golden}")
    assert "  -          <BG:geslachtsnaam>Janssen</BG:geslachtsnaam>" in details
    assert "  +          <BG:geslachtsnaam>Jansen</BG:geslachtsnaam>" in details


def test_a_when_comparison_that_is_false_skips_its_rule(registry: Registry) -> None:
    """``when: "Status = 'ingetrokken'"`` is an XPath boolean; false must skip the rule (it once came back
    as ``[False]``, a non-empty list, and every stale RedenIntrekking on an active line was read)."""
    from gateway.pipeline import Converter

    converter = Converter(registry)
    fixture = ROOT / "mappings" / "examples" / "flat-no-namespace" / "fixtures" / "toewijzing.xml"
    data = fixture.read_bytes()
    withdrawn = converter.convert(data, "flat.xml").bericht.clients[1].producten[0]
    assert withdrawn.reden_intrekking == "1"
    active = data.replace(b"<Status>ingetrokken</Status>", b"<Status>actief</Status>")
    assert converter.convert(active, "flat.xml").bericht.clients[1].producten[0].reden_intrekking is None
