"""``overstap discover`` and ``scaffold`` answer a wrong argument with one line and exit 2 (review finding F10).

Why: ``--out`` naming a file or a folder, a report given to scaffold, and a folder whose name is not
UTF-8 ended in tracebacks (FileExistsError, IsADirectoryError, TypeError, UnicodeEncodeError), the last
one with report.json left half-written. And scaffold followed whatever paths a report.json listed: a
report is shared and may come back from anyone, so scaffold now takes its inputs from the command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.cli.discover import write_report


@pytest.fixture(scope="module")
def sample(reference_dir: Path) -> Path:
    return reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml"


def _error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output  # a traceback would be exit 1 with the exception kept
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_out_naming_a_file_or_a_folder_is_a_usage_error(sample: Path, tmp_path: Path) -> None:
    afile, adir = tmp_path / "afile", tmp_path / "adir.json"
    afile.write_text("keep", encoding="utf-8")
    adir.mkdir()
    assert "is a file: give a folder" in _error(["discover", str(sample), "--workers", "0", "--out", str(afile)])
    assert afile.read_text(encoding="utf-8") == "keep"
    assert "is a folder" in _error(["discover", str(sample), "--workers", "0", "--out", str(adir)])
    folder = tmp_path / "draftdir"
    folder.mkdir()
    assert "is a folder: give the mapping file" in _error(["scaffold", str(sample), "--out", str(folder)])


@pytest.mark.parametrize("content", ["[]", "{not json", '{"overstap-discover": 1, "inputs": ["/etc"]}'])
def test_scaffold_does_not_take_its_inputs_from_a_report(content: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(content, encoding="utf-8")
    line = _error(["scaffold", str(report), "--out", str(tmp_path / "m" / "mapping.yaml")])
    assert "not a discover report" in line and "/etc" not in line
    assert not (tmp_path / "m").exists()


def test_a_folder_whose_name_is_not_utf8_is_reported(sample: Path, tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path) + b"/bad\xffname"
    os.mkdir(folder)
    with open(folder + b"/" + os.fsencode(sample.name), "wb") as copy:
        copy.write(sample.read_bytes())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["discover", os.fsdecode(folder), "--workers", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["inputs"] == ["***%******"] and report["messages"] == 1  # the label batch gives it, masked
    assert report["clusters"][0]["examples"] == ["***%******/CasusA-02-WMO301_toewijzing.xml"]


def test_a_report_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text('{"old": true}', encoding="utf-8")
    broken = {"inputs": ["x" * 300_000, "\udcff"], "clusters": []}  # fails to encode after 300 KB
    with pytest.raises(SystemExit) as stopped:
        write_report(broken, target)
    assert stopped.value.code == 2
    assert target.read_text(encoding="utf-8") == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind
    write_report({"inputs": [], "clusters": []}, target)
    assert json.loads(target.read_text(encoding="utf-8")) == {"inputs": [], "clusters": []}
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # a new report is readable like any new file


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
