"""overstap mapping check on deliberately broken mapping files: the right file:line:column and reason for each."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping import MappingError, Registry

BROKEN = Path(__file__).parent / "fixtures" / "broken-mappings"

# fixture -> (line, column, the whole message as printed after "file:line:col: ")
EXPECTED: dict[str, tuple[int, int, str]] = {
    "unknown-key.yaml": (9, 1, "unknown key 'rulez' (did you mean 'rules'?)"),
    "unknown-transform.yaml": (13, 37, "unknown transform 'zeropadd' (did you mean 'zeropad'?)"),
    "bad-xpath.yaml": (10, 25, "bad XPath 'm:Header/m:Id[[': Invalid expression"),
    "undeclared-prefix.yaml": (13, 12, "undeclared namespace prefix 'mm' in 'mm:Bsn' (did you mean 'm'?)"),
    "unknown-field.yaml": (14, 7, "unknown canonical field 'geboortedatun' in clients[] "
                                  "(did you mean 'geboortedatum'?)"),
    "missing-base.yaml": (3, 10, "base mapping 'iwmo20-wmo310' not found (did you mean 'iwmo20-wmo315'?)"),
    "extends-cycle-a.yaml": (3, 10, "cycle in extends: extends-cycle-a.yaml -> extends-cycle-b.yaml -> "
                                    "extends-cycle-a.yaml"),
    "extends-cycle-b.yaml": (3, 10, "cycle in extends: extends-cycle-b.yaml -> extends-cycle-a.yaml -> "
                                    "extends-cycle-b.yaml"),
    "unknown-value-map.yaml": (16, 41, "unknown value map 'geslact' (did you mean 'geslacht'?)"),
    "bad-fallback.yaml": (12, 15, "fallback must be one of error, keep, default (did you mean 'keep'?)"),
    "csv-missing.yaml": (11, 10, f"CSV file 'productcodes.csv' not found (looked in {BROKEN.resolve()})"),
    "duplicate-key.yaml": (12, 3, "YAML syntax: duplicate key 'wet' (first at line 10)"),
    "yaml-syntax.yaml": (11, 8, "YAML syntax: expected ',' or '}', but got ':'"),
    "not-a-group.yaml": (13, 7, "clients[].naam is not a repeating group (each: needs a list field)"),
    "ignore-without-reason.yaml": (10, 5, "an ignored path needs a reason: (why is it safe to drop?)"),
    "bad-date-format.yaml": (10, 52, "transform 'date': unknown format 'dd-mm-yy': use one of iso, yyyy-mm-dd, "
                                     "yyyymmdd, dd-mm-yyyy, dd/mm/yyyy, ddmmyyyy, dd.mm.yyyy or a strftime pattern"),
}


def test_every_broken_fixture_has_an_expectation_and_there_are_at_least_eight_kinds() -> None:
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(EXPECTED)
    assert len({name.removesuffix("-a.yaml").removesuffix("-b.yaml") for name in EXPECTED}) >= 8


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mapping_check_points_at_the_mistake(name: str) -> None:
    line, column, message = EXPECTED[name]
    path = BROKEN / name
    result = CliRunner().invoke(main, ["mapping", "check", str(path)])
    assert result.exit_code == 1
    where = path.resolve()
    if name.startswith("extends-cycle"):  # the cycle is reported at the extends: that closes it
        where = path.parent.resolve() / ("extends-cycle-b.yaml" if name.endswith("a.yaml") else "extends-cycle-a.yaml")
    assert result.output.splitlines() == [f"{where.relative_to(Path.cwd())}:{line}:{column}: {message}"]


def test_a_problem_is_located_by_the_path_as_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Relative in, relative out (as a compiler prints it); a file outside the working folder keeps its path."""
    monkeypatch.chdir(BROKEN)
    result = CliRunner().invoke(main, ["mapping", "check", "unknown-key.yaml"])
    assert result.output == "unknown-key.yaml:9:1: unknown key 'rulez' (did you mean 'rules'?)\n"
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["mapping", "check", str(BROKEN / "unknown-key.yaml")])
    assert result.output.startswith(f"{(BROKEN / 'unknown-key.yaml').resolve()}:9:1: unknown key")


def test_all_problems_of_a_file_are_reported_together_and_the_file_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("overstap-mapping: 1\nname: two\nrules:\n  wet: {constant: wmo, requird: true}\n"
                    "  clients:\n    each: Client\n    rules:\n      bsn: {path: Bsn, transform: uper}\n")
    with pytest.raises(MappingError) as err:
        Registry(dirs=[], files=[path]).get(str(path))
    assert [(p.line, p.column, p.message, p.hint) for p in err.value.problems] == [
        (4, 24, "unknown key 'requird' in rule wet", "did you mean 'required'?"),
        (8, 35, "unknown transform 'uper'", "did you mean 'upper'?"),
    ]
    registry = Registry(dirs=[], files=[path])
    assert registry.names() == [] and len(registry.errors) == 1


def test_a_good_file_is_ok() -> None:
    good = Path(__file__).resolve().parents[1] / "mappings" / "examples" / "vendor-extensions" / "mapping.yaml"
    result = CliRunner().invoke(main, ["mapping", "check", str(good)])
    assert result.exit_code == 0
    assert result.output.startswith(f"ok   {good}: example-vendor-extensions (2 file(s) in the extends chain)")
