"""``overstap convert`` keeps a message's zaak change until its outputs are on disk (session 21).

Why: the zaak ledger committed a message's state before its output was written, so an output convert could not
write (a folder at its name, a full disk) was lost: the next run said "no change" and never wrote it. Now the
outputs are written (temporary file, fsync, rename) inside the message's ledger transaction, and a write that
fails rolls it back: the next run converts the message again and writes what the receiver still lacks.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.mapping import Registry
from gateway.pipeline import Converter

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
TOEWIJZING = FIXTURES / "CasusA-02-WMO301_toewijzing.xml"
TWO_CLIENTS = FIXTURES / "Multi-WMO301_twee_clienten.xml"
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"


def _convert(state: Path | str, *args: str, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["convert", "--state", str(state), "--no-validate", *args], input=stdin)


def _names(message: Path, tmp_path: Path) -> list[str]:
    """The files one conversion of ``message`` writes, from a run into a scratch folder and a throwaway ledger."""
    done = _convert("none", str(message), "--out", str(tmp_path / "scratch"))
    assert done.exit_code == 0, done.output
    return sorted(p.name for p in (tmp_path / "scratch").iterdir())


def _zaak_operation(path: Path) -> tuple[str, str, str]:
    """(root element, mutatiesoort, zaak identificatie) of a written zkn output: creeerZaak is a zakLk01 of
    mutatiesoort T (toevoeging), updateZaak one of W."""
    root = etree.parse(str(path)).getroot()
    soort = root.find(f"{ZKN}parameters/{STUF}mutatiesoort")
    found = root.find(f"{ZKN}object/{ZKN}identificatie")
    assert soort is not None and found is not None, etree.tostring(root)[:400]
    return etree.QName(root).localname, soort.text or "", found.text or ""


@pytest.mark.parametrize("state", ["sqlite", "none"])
def test_an_output_convert_cannot_write_is_written_by_the_next_run(tmp_path: Path, state: str) -> None:
    [name] = _names(TOEWIJZING, tmp_path)
    ledger = tmp_path / "state" if state == "sqlite" else "none"
    out = tmp_path / "out"
    (out / name).mkdir(parents=True)  # a folder where the output should go
    done = _convert(ledger, str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 1, done.output
    assert done.output.splitlines()[0] == (
        f"FAIL {TOEWIJZING}: cannot write output {name} in {out}: Is a directory; not entered in the zaak "
        "ledger: converting it again writes it")
    if state == "none":  # a memory ledger ends with the run: nothing to continue, the message is simply failed
        return
    (out / name).rmdir()
    done = _convert(ledger, str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0] == f"ok   {TOEWIJZING}: iwmo21-wmo301 -> {name}"
    assert _zaak_operation(out / name) == ("zakLk01", "T", "0384T100001")
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    done = _convert(ledger, str(TOEWIJZING), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert "-> no output: no change: zaak 0384T100001 already holds this state" in done.output


def test_the_run_stops_at_an_output_it_cannot_write_so_a_chain_keeps_its_order(tmp_path: Path) -> None:
    """As batch stops when OUT refuses a write: the intrekking after the failed toewijzing is not converted
    (it would create the zaak from its own content, and the toewijzing would then be older than the state held);
    the next run converts both, in order: creeerZaak, then updateZaak and its status."""
    intrekking = FIXTURES / "CasusA-04-WMO301_intrekking.xml"
    [name] = _names(TOEWIJZING, tmp_path)
    out, state = tmp_path / "out", tmp_path / "state"
    (out / name).mkdir(parents=True)
    done = _convert(state, str(TOEWIJZING), str(intrekking), "--out", str(out))
    assert done.exit_code == 1, done.output
    assert done.output.splitlines()[1:] == [
        f"stopped: 1 input(s) after it not converted, so each zaak's messages keep their order; convert again "
        f"once {out} can take the output"]
    (out / name).rmdir()
    done = _convert(state, str(TOEWIJZING), str(intrekking), "--out", str(out))
    assert done.exit_code == 0, done.output
    lines = [line for line in done.output.splitlines() if line.startswith("ok ")]  # not the dropped: lines
    assert lines[0] == f"ok   {TOEWIJZING}: iwmo21-wmo301 -> {name}"
    assert lines[1].startswith(f"ok   {intrekking}: iwmo21-wmo301 -> ") and "no output" not in lines[1]
    assert [op for op in ("creeerZaak", "updateZaak", "actualiseerZaakstatus") if op in lines[1]] == [
        "updateZaak", "actualiseerZaakstatus"]
    assert _zaak_operation(out / name) == ("zakLk01", "T", "0384T100001")


def test_outputs_written_before_the_one_that_failed_are_taken_back(tmp_path: Path) -> None:
    """A message of two clients (four zaken): the last output cannot be written, so the ones before it are
    removed again: the next run writes them all, and the receiver is never handed part of a message whose
    state the ledger does not hold (a second creeerZaak of the same zaak would follow it)."""
    names = _names(TWO_CLIENTS, tmp_path)
    *before, last = names
    out, state = tmp_path / "out", tmp_path / "state"
    (out / last).mkdir(parents=True)
    done = _convert(state, str(TWO_CLIENTS), "--out", str(out))
    assert done.exit_code == 1, done.output
    assert done.output.splitlines()[0] == (
        f"FAIL {TWO_CLIENTS}: cannot write output {last} in {out}: Is a directory (removed again: "
        f"{', '.join(before)}); not entered in the zaak ledger: converting it again writes it")
    assert sorted(p.name for p in out.iterdir()) == [last]
    (out / last).rmdir()
    done = _convert(state, str(TWO_CLIENTS), "--out", str(out))
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == names
    assert [_zaak_operation(out / n)[:2] for n in names] == [("zakLk01", "T")] * 4


def _convert_stdin(state: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``convert /dev/stdin`` in a process of its own, the fixture on its real standard input (CliRunner's
    ``input`` never reaches /dev/stdin)."""
    code = "from gateway.cli import main; main()"
    with TOEWIJZING.open("rb") as stdin:
        return subprocess.run([sys.executable, "-c", code, "convert", "--state", str(state), "--no-validate",
                               "/dev/stdin", "--out", str(out)], stdin=stdin, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}, timeout=120)


@pytest.mark.skipif(not Path("/dev/stdin").exists(), reason="no /dev/stdin here")
def test_a_message_from_stdin_is_converted_again_after_a_failed_write(tmp_path: Path) -> None:
    [name] = _names(TOEWIJZING, tmp_path)
    out, state = tmp_path / "out", tmp_path / "state"
    (out / name).mkdir(parents=True)
    done = _convert_stdin(state, out)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith(f"FAIL /dev/stdin: cannot write output {name} in {out}: Is a directory;")
    (out / name).rmdir()
    done = _convert_stdin(state, out)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"ok   /dev/stdin: iwmo21-wmo301 -> {name}")
    assert _zaak_operation(out / name) == ("zakLk01", "T", "0384T100001")


def test_a_delivery_that_raises_rolls_the_message_back(tmp_path: Path) -> None:
    """The pipeline's promise the CLI builds on: ``deliver`` runs inside the ledger transaction."""
    converter = Converter(Registry(), ledger=MemoryLedger(), validate=False)
    seen: list[str] = []

    def refuse(outputs: list) -> None:  # type: ignore[type-arg]
        seen.extend(o.operation for o in outputs)
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        converter.convert(TOEWIJZING.read_bytes(), "a.xml", deliver=refuse)
    assert seen == ["creeerZaak"]
    again = converter.convert(TOEWIJZING.read_bytes(), "a.xml")
    assert [o.operation for o in again.outputs] == ["creeerZaak"]


def test_an_output_is_synced_before_the_ledger_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Durable before acknowledged: the output file, then the folder holding its name, are fsynced while the
    ledger (read from another connection, as the next run would) does not yet hold the zaak; after the run it does."""
    state = tmp_path / "state"
    synced: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def zaken() -> int:
        with sqlite3.connect(state / "ledger.sqlite") as conn:
            return int(conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0])

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file", zaken()))

    monkeypatch.setattr(os, "fsync", fsync)
    done = _convert(state, str(TOEWIJZING), "--out", str(tmp_path / "out"))
    assert done.exit_code == 0, done.output
    assert synced == [("file", 0), ("folder", 0)]
    assert zaken() == 1


def test_a_ledger_that_cannot_be_written_fails_the_message_and_stops_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SQLite ledger turned read-only (``PRAGMA query_only``: what a store out of disk or remounted
    read-only answers): the message is named FAIL with the database's error class, nothing of it is written, and
    the run stops there as for an output it cannot write; it was a traceback."""
    import gateway.cli.convert as convert
    from gateway.ledger import SqliteLedger

    claim = convert._claim_render_settings

    def then_read_only(ledger: SqliteLedger, *args: Any) -> None:  # read-only from the first message on
        claim(ledger, *args)
        ledger._conn.execute("PRAGMA query_only=1")

    monkeypatch.setattr(convert, "_claim_render_settings", then_read_only)
    out = tmp_path / "out"
    done = CliRunner().invoke(main, ["convert", "--state", str(tmp_path / "state"), "--out", str(out),
                                     str(TOEWIJZING), str(TWO_CLIENTS)])
    assert done.exit_code == 1 and done.exc_info[0] is SystemExit, done.output  # type: ignore[index]
    assert done.output.splitlines() == [
        f"FAIL {TOEWIJZING}: the zaak ledger could not store its state (OperationalError (SQLITE_READONLY)): it is "
        "not entered; convert it again once the ledger can be written",
        "stopped: 1 input(s) after it not converted, so each zaak's messages keep their order; convert again once "
        "the ledger can be written"]
    assert not list(out.glob("*.xml"))
