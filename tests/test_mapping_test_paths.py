"""A mapping file's tests come from a vendor: what ``overstap mapping test`` may read and write for them, and
what a failed case may print. Inputs and golden files stay in the mapping file's folder (an input may also be
``${REFERENCE}/...``), symbolic links followed; a mismatch shows the field and the shape of a personal value,
never the value."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.ingest import DEFAULT_MAX_BYTES
from gateway.mapping import MappingError, Registry
from gateway.reference import available
from gateway.tooling.mappingtest import run_file

EXAMPLE = Path(__file__).resolve().parents[1] / "mappings" / "examples" / "vendor-extensions"
INPUT_RULE = ("a test input is a file in the mapping file's folder or below it, or ${REFERENCE}/... in the reference "
              "folder (a dialect shipped with Overstap may also read the project's tests/fixtures/)")
OUTPUT_RULE = "a golden file is in the mapping file's folder or below it"


def vendor(tmp_path: Path, cases: str) -> Path:
    """The vendor-extensions example copied to ``tmp_path/vendor/m`` with ``cases`` as its tests."""
    folder = tmp_path / "vendor" / "m"
    shutil.copytree(EXAMPLE, folder)
    path = folder / "mapping.yaml"
    text = path.read_text(encoding="utf-8").replace("name: example-vendor-extensions", "name: vendor-paths")
    head = text[:text.index("tests:")]
    path.write_text(head + "tests:\n" + cases, encoding="utf-8")
    return path


def at(path: Path, line: int, column: int | None = None) -> str:
    """``file:line[:column]`` of line ``line`` below ``tests:`` (1: the first case's ``- name:``)."""
    number = path.read_text(encoding="utf-8").splitlines().index("tests:") + 1 + line
    return f"{path}:{number}" + (f":{column}" if column else "")


def problems(path: Path) -> list[str]:
    with pytest.raises(MappingError) as err:
        Registry(files=[path]).get(str(path))
    return [str(p) for p in err.value.problems]


def test_an_absolute_or_escaping_golden_file_is_refused_at_its_line(tmp_path: Path) -> None:
    path = vendor(tmp_path, "  - name: golden outside\n    input: fixtures/toewijzing.xml\n"
                            "    expect_output: [/etc/passwd, ../../escaped/pwned.xml, sub/../ok.xml]\n")
    case = "test case 'golden outside': expect_output"
    assert problems(path) == [
        f"{at(path, 3, 21)}: {case} '/etc/passwd' is an absolute path: {OUTPUT_RULE}",
        f"{at(path, 3, 34)}: {case} '../../escaped/pwned.xml' leads out of its folder: {OUTPUT_RULE}"]
    for update in ([], ["--update"]):
        result = CliRunner().invoke(main, ["mapping", "test", *update, str(path)])
        assert result.exit_code == 1 and "does not compile" in result.output
        assert "root:" not in result.output  # /etc/passwd was not read, let alone shown
    assert not (tmp_path / "escaped").exists()


def test_an_input_outside_the_folder_is_refused_and_the_reference_folder_allowed(tmp_path: Path) -> None:
    sample = "/work/shared/reference/samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml"
    path = vendor(tmp_path, f"  - name: absolute\n    input: {sample}\n"
                            "  - name: up\n    input: ../../../../etc/passwd\n"
                            "  - name: up the reference\n    input: ${REFERENCE}/../../etc/passwd\n"
                            "  - name: the reference\n    input: ${REFERENCE}/samples/iwmo20-xml/x.xml\n")
    assert problems(path) == [
        f"{at(path, 2, 12)}: test case 'absolute': input {sample!r} is an absolute path: {INPUT_RULE}",
        f"{at(path, 4, 12)}: test case 'up': input '../../../../etc/passwd' leads out of its folder: {INPUT_RULE}",
        f"{at(path, 6, 12)}: test case 'up the reference': input '${{REFERENCE}}/../../etc/passwd' leads out of "
        f"its folder: {INPUT_RULE}"]


def test_a_vendor_mapping_may_not_borrow_the_shipped_dialects_way_to_the_test_fixtures(tmp_path: Path) -> None:
    """The dialects in dialects/ read tests/fixtures/ (``../../tests/fixtures/...``); a vendor's file may not."""
    root = Path(__file__).resolve().parents[1]
    folder = tmp_path / "vendor" / "m"
    into_fixtures = os.path.relpath(root / "tests" / "fixtures" / "ijw21" / "JW301_toewijzing.xml", folder)
    path = vendor(tmp_path, f"  - name: fixtures\n    input: {into_fixtures}\n")
    assert problems(path) == [f"{at(path, 2, 12)}: test case 'fixtures': input {into_fixtures!r} leads out of its "
                              f"folder: {INPUT_RULE}"]
    dialect = root / "dialects" / "ijw21" / "jw301.yaml"
    assert "input: ../../tests/fixtures/" in dialect.read_text(encoding="utf-8")
    assert run_file(dialect).ok


def test_a_symbolic_link_out_of_the_folder_is_neither_read_nor_written(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text("<geheim>123456782</geheim>\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    path = vendor(tmp_path, "  - name: linked golden\n    input: fixtures/toewijzing.xml\n"
                            "    expect_output: [expected/zaak.xml]\n"
                            "  - name: linked folder\n    input: fixtures/toewijzing.xml\n"
                            "    expect_output: [out/zaak.xml]\n"
                            "  - name: linked input\n    input: fixtures/linked.xml\n"
                            "    expect: {berichtcode: '414'}\n")
    (path.parent / "expected").mkdir()
    os.symlink(secret, path.parent / "expected" / "zaak.xml")
    os.symlink(outside, path.parent / "out")
    os.symlink(secret, path.parent / "fixtures" / "linked.xml")
    linked = "is not a file in its folder once symbolic links are followed"
    for update in (False, True):
        result = run_file(path, update=update)
        assert {case.name: case.details for case in result.cases} == {
            "linked golden": [f"{at(path, 3, 21)}: test case 'linked golden': expect_output 'expected/zaak.xml' "
                              f"{linked}: {OUTPUT_RULE}"],
            "linked folder": [f"{at(path, 6, 21)}: test case 'linked folder': expect_output 'out/zaak.xml' "
                              f"{linked}: {OUTPUT_RULE}"],
            "linked input": [f"{at(path, 8, 12)}: test case 'linked input': input 'fixtures/linked.xml' "
                             f"{linked}: {INPUT_RULE}"]}
        assert secret.read_text() == "<geheim>123456782</geheim>\n" and list(outside.iterdir()) == []


def test_golden_files_inside_the_folder_are_written_and_compared(tmp_path: Path) -> None:
    path = vendor(tmp_path, "  - name: golden\n    input: fixtures/toewijzing.xml\n"
                            "    expect_output: [expected/new/a.xml, expected/new/b.xml]\n")
    assert run_file(path).cases[0].details[0].endswith("not found (run with --update to write it, then review it)")
    assert run_file(path, update=True).ok and (path.parent / "expected" / "new" / "b.xml").is_file()
    assert run_file(path).ok


def test_an_input_past_the_message_limit_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = vendor(tmp_path, "  - name: huge\n    input: fixtures/huge.xml\n    expect: {berichtcode: '414'}\n")
    with (path.parent / "fixtures" / "huge.xml").open("wb") as fh:
        fh.truncate(DEFAULT_MAX_BYTES + 1)  # sparse: no disk used
    result = run_file(path)
    huge = path.parent / "fixtures" / "huge.xml"
    assert result.cases[0].details == [f"{at(path, 2)}: {huge}: message is more than the limit of "
                                       f"{DEFAULT_MAX_BYTES} bytes"]


@pytest.mark.skipif(not available(), reason="the reference samples are not here")
def test_a_mismatch_shows_where_and_the_shape_of_a_personal_value_never_the_value(tmp_path: Path) -> None:
    sample = "${REFERENCE}/samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml"
    path = vendor(tmp_path, f"  - name: echo\n    input: {sample}\n"
                            "    expect: {clients: x, clients.0.bsn: '999999999', berichtcode: '999',"
                            " clients.0.geboortedatum: '2000-01-01', ontvanger: '1'}\n")
    text = path.read_text(encoding="utf-8").replace("code: {path: m:Product/i:Code, map: productcode}",
                                                    "code: m:Product/i:Code")
    path.write_text(text, encoding="utf-8")
    details = run_file(path).cases[0].details
    shown = "\n".join(details)
    for personal in ("123456782", "Gaastra", "1985-01-06", "DHR"):
        assert personal not in shown
    assert details[details.index(f"{at(path, 3)}: clients.0.bsn") + 2] == "  + actual    (9 digits)"
    assert details[details.index(f"{at(path, 3)}: berichtcode") + 2] == "  + actual    '414'"
    assert details[details.index(f"{at(path, 3)}: ontvanger") + 2] == "  + actual    (8 digits)"  # a long digit run
    assert (details[details.index(f"{at(path, 3)}: clients.0.geboortedatum") + 2]
            == "  + actual    (10 characters in the form dddd-dd-dd)")
    record = details[details.index(f"{at(path, 3)}: clients") + 2]
    assert record.startswith("  + actual    [{bsn: (9 digits), clientnummer: (9 digits), geheim: '2', "
                             "geboortedatum: (10 characters in the form dddd-dd-dd), geslacht: '1', naam: "
                             "{geslachtsnaam: {naam: (7 letters), ")
