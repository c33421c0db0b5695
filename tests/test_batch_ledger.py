"""``overstap batch`` with the zaak ledger: chains in an archive become the same zaken as converted one by one.

Why: profile zkn v2 renders each message against what the receiver holds, so a batch of a whole history
must apply its members to the ledger in input order (the same operations as ``convert --state`` file by
file), a later run with the same ``--state`` continues the chains, and a resume after ``kill -9`` must not
apply a member twice (it would turn a creeerZaak into "no change", or an update into one on the wrong
state). Real archives, real SQLite, a real killed process.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

from batch_corpus import kill_when
from click.testing import CliRunner
from proxy_helpers import sample, variant

from gateway.batch import BatchOptions, run
from gateway.cli import main

A01, A02, A04 = "CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
CHAIN = (A01, A02, A04, B01, B02, B04)
OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]


def archive(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def operations(out: Path) -> list[tuple[str, list[str]]]:
    """Per member in input order, the operations of its outputs (from the output names in report.jsonl)."""
    lines = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    return [(line["source"].rpartition("/")[2], [p.rsplit("-", 1)[1].removesuffix(".xml") for p in line["outputs"]])
            for line in lines]


def test_a_batch_of_chains_gives_the_operations_of_convert_one_by_one(tmp_path: Path) -> None:
    for n, name in enumerate(CHAIN):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{n:02d}-{name}").write_bytes(sample(name))
    one_by_one: list[tuple[str, list[str]]] = []
    for path in sorted((tmp_path / "in").iterdir()):
        result = CliRunner().invoke(main, ["convert", str(path), "--out", str(tmp_path / "conv"),
                                           "--state", str(tmp_path / "conv-state")])
        assert result.exit_code == 0, result.output
        names = result.output.splitlines()[0].split(" -> ")[1].split(" (")[0].split(", ")
        one_by_one.append((path.name, [n.removesuffix(".xml").rsplit("-", 1)[1] for n in names]))
    zipped = archive(tmp_path / "history.zip", [(p.name, p.read_bytes()) for p in sorted((tmp_path / "in").iterdir())])
    outcome = run(BatchOptions([zipped], tmp_path / "out", workers=2, progress="quiet", state=str(tmp_path / "st")))
    assert outcome.exit_code == 0
    assert operations(tmp_path / "out") == one_by_one
    assert one_by_one[2][1] == ["updateZaak", "actualiseerZaakstatus"]  # A-04 withdraws what A-02 created
    assert one_by_one[5][1] == ["actualiseerZaakstatus", "updateZaak", "actualiseerZaakstatus"]  # B-04 stops B-01


def test_a_second_run_with_the_same_state_continues_the_chains(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    first = archive(tmp_path / "jan.zip", [(f"{n}-{name}", sample(name)) for n, name in enumerate((A02, B01, B02))])
    second = archive(tmp_path / "feb.zip", [(f"{n}-{name}", sample(name)) for n, name in enumerate((A04, B04))])
    assert run(BatchOptions([first], tmp_path / "out1", workers=1, progress="quiet", state=state)).exit_code == 0
    assert run(BatchOptions([second], tmp_path / "out2", workers=1, progress="quiet", state=state)).exit_code == 0
    assert operations(tmp_path / "out2") == [(f"0-{A04}", ["updateZaak", "actualiseerZaakstatus"]),
                                             (f"1-{B04}", ["actualiseerZaakstatus", "updateZaak",
                                                           "actualiseerZaakstatus"])]
    alone = run(BatchOptions([second], tmp_path / "out3", workers=1, progress="quiet", state="none"))
    assert alone.exit_code == 1  # without the first run's state the 307 names a zaak nobody created (StUF064)


def remembered(state: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(state / "ledger.sqlite", timeout=5)) as conn:
            return int(conn.execute("SELECT count(*) FROM remembered WHERE kind = 'batch-outputs'").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_resume_after_a_kill_does_not_apply_a_member_twice(tmp_path: Path) -> None:
    """Killed after the ledger took members the journal had not yet recorded: the resume must reuse their
    outputs, not render them again (which would make every redone 301 'no change' and lose its zaak)."""
    members = [(f"{k:03d}-{i}-{name}", variant(sample(name), 10 * k + i, zaak=k))
               for k in range(60) for i, name in enumerate((B01, B02, B04))]
    history = archive(tmp_path / "history.zip", members)
    reference = tmp_path / "reference"
    assert run(BatchOptions([history], reference, workers=0, progress="quiet",
                            state=str(tmp_path / "ref-state"))).exit_code == 0
    out, state = tmp_path / "out", tmp_path / "state"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*OVERSTAP, "batch", str(history), "--out", str(out), "--workers", "0", "--chunk-size",
                             "1", "--commit-interval", "3600", "--state", str(state), "--quiet"], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kill_when(proc, lambda: remembered(state) >= 30)
    assert remembered(state) >= 30  # the ledger is ahead of the journal (which committed nothing yet)
    resumed = run(BatchOptions([history], out, workers=0, resume=True, progress="quiet", chunk_size=1,
                               commit_seconds=3600, state=str(state)))
    assert resumed.exit_code == 0
    assert operations(out) == operations(reference)
    assert operations(out)[:3] == [(members[0][0], ["creeerZaak"]), (members[1][0], ["actualiseerZaakstatus"]),
                                   (members[2][0], ["actualiseerZaakstatus", "updateZaak", "actualiseerZaakstatus"])]
    assert remembered(state) == 0  # pruned once the journal recorded them


def test_the_ledger_is_flushed_before_each_journal_commit_not_after_each_chunk(tmp_path: Path,
                                                                              monkeypatch: object) -> None:
    """Chunks commit to the ledger without a flush of their own; before the journal records them done, the WAL
    their commits appended to is flushed: a power cut may lose chunks the journal does not hold, never one it does."""
    zipped = archive(tmp_path / "history.zip", [(f"{n:02d}-{name}", sample(name)) for n, name in enumerate(CHAIN * 3)])
    flushed: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        flushed.append(os.readlink(f"/proc/self/fd/{fd}").rpartition("/")[2])
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)  # type: ignore[attr-defined]
    outcome = run(BatchOptions([zipped], tmp_path / "out.zip", workers=0, progress="quiet", chunk_size=2,
                               commit_seconds=0.0, state=str(tmp_path / "st")))
    assert outcome.summary is not None and outcome.summary["status"]["failed"] == 0
    commits = [n for n, name in enumerate(flushed) if name == "journal.jsonl"]
    progress = commits[:-1]  # the last one says finished: its chunks' commit was flushed before the one before
    assert len(progress) == 10  # 18 members in chunks of two, and the commit after the loop
    for before, at in zip([0, *progress], progress, strict=False):
        assert flushed[before:at].count("ledger.sqlite-wal") == 1, flushed[before:at]
    assert flushed.count("ledger.sqlite-wal") == len(progress)  # not once a chunk


def test_a_member_that_fails_to_render_in_the_parent_is_quarantined_with_its_own_bytes(tmp_path: Path) -> None:
    """Workers hand a mapped member back without its bytes (the parent sent them); when the render against the
    ledger then fails (a 307 for a zaak nobody created: StUF064), the quarantine copy must be that member's."""
    stop = variant(sample(B04), 7)
    zipped = archive(tmp_path / "feb.zip", [("0-start.xml", variant(sample(B01), 1, zaak=3)), ("1-stop.xml", stop)])
    outcome = run(BatchOptions([zipped], tmp_path / "out", workers=1, progress="quiet", state="none"))
    assert outcome.exit_code == 1
    lines = [json.loads(line) for line in (tmp_path / "out" / "report.jsonl").read_text().splitlines()]
    failed = [line for line in lines if line["status"] == "failed"]
    assert [line["source"].rpartition("/")[2] for line in failed] == ["1-stop.xml"]
    assert (tmp_path / "out" / failed[0]["quarantine"]).read_bytes() == stop
