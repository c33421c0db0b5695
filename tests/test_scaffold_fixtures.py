"""scaffold's fixtures: one file per example, never over a file already there (review finding F9).

Why: fixtures were named by the member's base name alone, so ``2016/bericht.xml`` and
``2017/bericht.xml`` both became fixtures/bericht.xml (test 1 then expected the 2016 message's values
of a file holding the 2017 one), a hand-anonymised fixture was overwritten without a word, and a ZIP
member named ``.`` (key ``dot.zip/``) made scaffold write to the fixtures folder itself.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import main
from gateway.discover.scaffold import fixture_name, write_fixture


@pytest.fixture(scope="module")
def message(reference_dir: Path) -> bytes:
    """A WMO301 with one extension element, so it is a cluster of its own to scaffold."""
    sample = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    return sample.replace(b"<wmo301:Bsn>", b'<x:Extra xmlns:x="urn:v">1</x:Extra><wmo301:Bsn>')


def _scaffold(archive: Path, out: Path) -> tuple[str, list[dict]]:
    result = CliRunner().invoke(main, ["scaffold", str(archive), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    return text, yaml.safe_load(text)["tests"]


def test_examples_with_one_base_name_get_a_fixture_each(message: bytes, tmp_path: Path) -> None:
    archive = tmp_path / "coll.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("2016/bericht.xml", message.replace(b"1d8d1f0852bf", b"AAAA2016AAAA"))
        zf.writestr("2017/bericht.xml", message.replace(b"1d8d1f0852bf", b"BBBB2017BBBB"))
    out = tmp_path / "draft" / "mapping.yaml"
    _, tests = _scaffold(archive, out)
    assert len(tests) == 2 and tests[0]["input"] != tests[1]["input"]
    for case in tests:  # each test's expectation is its own fixture's
        assert re.fullmatch(r"fixtures/bericht-[0-9a-f]{8}\.xml", case["input"]), case["input"]
        identificatie = case["expect"]["identificatie"].removeprefix("UNCONFIRMED: ")
        assert identificatie.encode() in (out.parent / case["input"]).read_bytes()


def test_a_fixture_already_there_is_never_overwritten(message: bytes, tmp_path: Path) -> None:
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("bericht.xml", message)
    out = tmp_path / "draft" / "mapping.yaml"
    anonymised = out.parent / "fixtures" / fixture_name("one.zip/bericht.xml")
    anonymised.parent.mkdir(parents=True)
    anonymised.write_bytes(b"<!-- anonymised by hand -->")
    text, tests = _scaffold(archive, out)
    assert anonymised.read_bytes() == b"<!-- anonymised by hand -->"
    assert tests[0]["input"] == f"fixtures/{anonymised.stem}-2.xml"
    assert (out.parent / tests[0]["input"]).read_bytes() == message
    assert f"# NOTE: {tests[0]['input']}: another file had its name in fixtures/" in text
    _, tests_again = _scaffold(archive, out)  # the same message again: its fixture is reused, not copied
    assert tests_again[0]["input"] == tests[0]["input"] and len(list(anonymised.parent.iterdir())) == 2


def test_a_member_named_dot_becomes_a_fixture_named_message(message: bytes, tmp_path: Path) -> None:
    archive = tmp_path / "dot.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(".", message)
    _, tests = _scaffold(archive, tmp_path / "draft" / "mapping.yaml")
    assert re.fullmatch(r"fixtures/message-[0-9a-f]{8}", tests[0]["input"])


def test_write_fixture_gives_up_on_a_full_folder_with_a_clear_error(tmp_path: Path) -> None:
    first = tmp_path / fixture_name("x/a.xml")
    first.write_bytes(b"other")
    for n in range(2, 1000):
        (tmp_path / f"{first.stem}-{n}.xml").write_bytes(b"other")
    with pytest.raises(FileExistsError, match="all exist"):
        write_fixture(tmp_path, "x/a.xml", b"mine")
