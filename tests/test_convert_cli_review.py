"""``overstap convert`` and ``overstap explain`` at the edges of the file system (session 21 review): the
output folder holds a link, a folder or an earlier run's file; the input folder holds links, FIFOs or a
subfolder nobody can list; the input is endless or unreadable. Each ends in a named line and a meaningful
exit status, never a traceback, a write outside --out or a file left out without a word."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.mapping import Registry
from gateway.pipeline import Converter

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
TOEWIJZING = FIXTURES / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"


def _convert(*args: str) -> Result:
    return CliRunner().invoke(main, ["convert", "--state", "none", "--no-validate", *args])


def _output_names(tmp_path: Path) -> list[str]:
    """The files one conversion of the fixture writes, from a run into a scratch folder."""
    done = _convert(str(TOEWIJZING), "--out", str(tmp_path / "first"))
    assert done.exit_code == 0, done.output
    return sorted(p.name for p in (tmp_path / "first").iterdir())


def test_convert_replaces_a_link_in_out_instead_of_writing_through_it(tmp_path: Path) -> None:
    name = _output_names(tmp_path)[0]
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(victim)
    done = _convert(str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert victim.read_text() == "not yours"
    assert not (out / name).is_symlink() and (out / name).read_bytes().startswith(b"<?xml")
    assert f"     replaced: {name} (a file of that name was in {out} already)" in done.output.splitlines()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_convert_names_each_file_of_an_earlier_run_it_replaces(tmp_path: Path) -> None:
    names = _output_names(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / names[0]).write_text("an earlier run")
    done = _convert(str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 0, done.output
    replaced = [line for line in done.output.splitlines() if line.startswith("     replaced: ")]
    assert replaced == [f"     replaced: {names[0]} (a file of that name was in {out} already)"]


def test_convert_reports_an_output_it_cannot_write_and_fails(tmp_path: Path) -> None:
    names = _output_names(tmp_path)
    out = tmp_path / "out"
    (out / names[0]).mkdir(parents=True)  # a folder where the output should go
    done = _convert(str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 1, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert f"FAIL {TOEWIJZING}: cannot write output {names[0]} in {out}: Is a directory;" in done.output


def test_convert_names_an_out_folder_it_cannot_create(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    done = _convert(str(TOEWIJZING), "--out", str(tmp_path / "file" / "out"))
    assert done.exit_code == 2
    assert isinstance(done.exception, SystemExit)
    assert f"error: --out {tmp_path / 'file' / 'out'}: cannot create the folder: Not a directory" in done.output


def test_convert_names_the_links_and_fifos_of_a_folder_it_does_not_read(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "link.xml").symlink_to(TOEWIJZING)
    (folder / "linked").symlink_to(FIXTURES)
    os.mkfifo(folder / "pipe.xml")
    done = _convert(str(folder), "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert sorted(done.stdout.splitlines()) == [
        f"skip {folder / 'linked'}: symbolic link: not followed inside a folder input",
        f"skip {folder / 'pipe.xml'}: not a regular file (FIFO, socket or device): not read",
        f"skip {folder / 'sub' / 'link.xml'}: symbolic link: not followed inside a folder input",
    ]
    assert done.stderr == f"no messages found in {folder} (3 entries not read, named above)\n"


@pytest.mark.parametrize("reverse", [False, True])
def test_convert_says_when_its_folders_hold_no_message(tmp_path: Path, reverse: bool) -> None:
    """The real command on an empty folder, and on one whose only file is hidden: it said nothing and exited 0;
    now it says so on stderr and exits 0, as batch ("0 input(s)") and validate ("0 passed, 0 failed") do."""
    empty, hidden = tmp_path / "empty", tmp_path / "hidden"
    empty.mkdir()
    hidden.mkdir()
    (hidden / ".a.xml").write_bytes(TOEWIJZING.read_bytes())  # hidden names are left out of a folder
    way = ["--reverse", "--mapping", "iwmo20-wmo301"] if reverse else []
    done = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "convert", "--state",
                           "none", "--no-validate", *way, str(empty), str(hidden), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr == f"no messages found in {empty}, {hidden}\n"
    assert list((tmp_path / "out").iterdir()) == []


def test_convert_fails_on_a_subfolder_it_cannot_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    (folder / "a.xml").write_bytes(TOEWIJZING.read_bytes())
    real = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    done = _convert(str(folder), "--out", str(tmp_path / "out"))
    assert done.exit_code == 1, done.output
    assert done.output.splitlines()[0] == f"FAIL {folder / 'locked'}: cannot list folder: Permission denied"
    assert f"ok   {folder / 'a.xml'}: " in done.output


def test_convert_help_names_the_exit_statuses() -> None:
    done = CliRunner().invoke(main, ["convert", "--help"])
    text = " ".join(done.output.split())
    assert "Exit status: 0 all converted; 1 an input or a folder could not be read, converted or written" in text
    assert "2 usage or configuration error; 3 nothing failed, but a mapping refused an input on purpose" in text


def test_explain_reads_an_endless_input_only_up_to_the_limit() -> None:
    done = CliRunner().invoke(main, ["explain", "/dev/zero"])
    assert done.exit_code == 1
    assert done.output == "FAIL /dev/zero: message is more than the limit of 26214400 bytes\n"  # a GGk envelope's


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_explain_reports_an_unreadable_input() -> None:
    done = CliRunner().invoke(main, ["explain", "/proc/self/mem"])  # opens, but reading offset 0 fails
    assert done.exit_code == 1
    assert done.output.startswith("FAIL /proc/self/mem: cannot read: ")


def test_a_warning_without_a_line_prints_no_line(reference_dir: Path, tmp_path: Path) -> None:
    sample = reference_dir / "samples" / "iwmo-ei" / "CasusC-01-WMO301_intrekking.ei"
    done = _convert(str(sample), "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert "     warning: clients: zaak 0392B425386123-1536F81435: the message changes a toewijzing" in done.output
    assert "line None" not in done.output


def test_convert_takes_a_ggk_envelope_above_10_mb_as_ingest_does(tmp_path: Path) -> None:
    """GGk spec 3.2: a Di01 with its base64 payload may be 25 MB; convert cut every input at 10 MB first."""
    converter = Converter(Registry(), profile="ggk", ledger=MemoryLedger(), validate=False)
    envelope = converter.convert(TOEWIJZING.read_bytes(), "a.xml").outputs[0].xml
    found = re.search(rb"(<GGK:bericht [^>]*>)([^<]*)<", envelope)
    assert found is not None
    payload = base64.b64decode(found.group(2)).replace(b"?>", b"?><!--" + b"x" * (8 << 20) + b"-->", 1)
    big = envelope[: found.start(2)] + base64.b64encode(payload) + envelope[found.end(2) :]
    assert 10 << 20 < len(big) < 25 << 20
    (tmp_path / "big.xml").write_bytes(big)
    done = _convert(str(tmp_path / "big.xml"), "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert done.output.startswith(f"ok   {tmp_path / 'big.xml'}: iwmo21-wmo301 -> ")
    (tmp_path / "big.txt").write_bytes(b"<a>" + b" " * (11 << 20) + b"</a>")  # no envelope: still 10 MB
    done = _convert(str(tmp_path / "big.txt"), "--out", str(tmp_path / "out"))
    assert done.exit_code == 1 and "more than the limit of 10485760" in done.output


@pytest.mark.parametrize(("make", "reason"), [
    (lambda p: p.write_text(""), "it is a file, not a folder"),  # where the ledger's folder should be (as batch)
    (lambda p: (p.mkdir(), (p / "ledger.sqlite").write_text("not a database")), "file is not a database"),
])
def test_convert_names_a_state_it_cannot_open(tmp_path: Path, make: object, reason: str) -> None:
    state = tmp_path / "state"
    make(state)  # type: ignore[operator]
    done = CliRunner().invoke(main, ["convert", "--state", str(state), "--no-validate", str(TOEWIJZING),
                                     "--out", str(tmp_path / "out")])
    assert done.exit_code == 2 and isinstance(done.exception, SystemExit)
    assert f"error: --state {state}: cannot open the zaak ledger: {reason}" in done.output


@pytest.mark.parametrize("where", ["state", "out", "out-reverse"])
def test_convert_refuses_to_read_what_it_writes_as_batch_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               where: str) -> None:
    """Session 24: ``convert --out ../x .`` made its zaak ledger (the default ``./overstap-state``) in the input
    folder and read it back as three FAILed messages (exit 1); ``--out in/out in`` read the first run's outputs
    as inputs the second time. Both are a usage error before anything is written, as ``batch`` says them."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.xml").write_bytes(TOEWIJZING.read_bytes())
    monkeypatch.chdir(folder)
    monkeypatch.delenv("OVERSTAP_STATE")  # the default ./overstap-state, inside the input folder
    way = ["--reverse", "--mapping", "iwmo21-wmo301"] if where == "out-reverse" else []
    out = tmp_path / "out" if where == "state" else folder / "out"
    done = CliRunner().invoke(main, ["convert", "--no-validate", *way, ".", "--out", str(out)])
    assert done.exit_code == 2
    said = {"state": f"error: --state {folder / 'overstap-state'} and the input . overlap: the run would read what "
                     "it writes; choose another place\n"}.get(where, "error: --out must not be one of the inputs or "
                                                                     "inside an input folder\n")
    assert done.output == said
    assert sorted(p.name for p in folder.iterdir()) == ["a.xml"] and not out.exists()
    done = CliRunner().invoke(main, ["convert", "--no-validate", "--state", str(tmp_path / "state"), ".", "--out",
                                     str(tmp_path / "out")])
    assert done.exit_code == 0 and done.output.startswith("ok   a.xml: iwmo21-wmo301 -> "), done.output


@pytest.mark.parametrize("command", ["convert", "batch"])
def test_an_empty_state_is_a_usage_error_not_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 command: str) -> None:
    """Session 24: ``--state ""`` (``--state "$STATE"`` with the variable unset) was taken as the current folder:
    ``convert`` made ledger.sqlite wherever it ran. It is exit 2 naming what --state takes, nothing written."""
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(main, [command, "--state", "", "--no-validate", str(TOEWIJZING), "--out",
                                     str(tmp_path / "out")])
    assert done.exit_code == 2
    assert done.output == ("error: --state is empty: expected a folder for the zaak ledger, 'none' (memory, this run "
                           "only) or a postgresql:// URL\n")
    assert list(tmp_path.iterdir()) == []
