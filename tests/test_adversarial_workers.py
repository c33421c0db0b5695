"""Messages that hang or break a batch worker (issue 11 item 1, issue 18): by fault injection into the
converter the forked workers inherit, each is ended within its deadline, reported, and the batch goes on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import zipfile
from pathlib import Path

import pytest
from batch_corpus import holds, varied

from gateway.batch import BatchOptions, run, work
from gateway.batch.pool import WORKER_DIED
from gateway.pipeline import Converter

MESSAGES = varied(8)
original_parse = Converter.parse


def archive(path: Path, marked: dict[int, bytes]) -> list[str]:
    """A ZIP of the eight messages, message ``i`` carrying the comment ``marked[i]``."""
    with zipfile.ZipFile(path, "w") as zf:
        for i, (name, data) in enumerate(MESSAGES):
            zf.writestr(name, data + marked.get(i, b""))
    return [f"{path.name}/{name}" for name, _ in MESSAGES]


def faulty(self: Converter, data: bytes, name: str = "<input>", route: str | None = None) -> object:
    """Workers map (bytes -> canonical model) and the parent renders against the ledger: the fault goes where the
    worker spends a message's time, in its first step (the parse; the map follows once the run is parsed)."""
    if b"<!-- HANG -->" in data:  # a loop in Python: the alarm reaches it
        time.sleep(600)
    if b"<!-- STUCK -->" in data:  # stuck where no signal gets through (as in C code): only the watchdog helps
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(600)
    if b"<!-- GIL -->" in data:  # one C call that holds the GIL for ~30 s: no handler and no thread of ours runs
        sum(range(2_000_000_000))
    return original_parse(self, data, name, route)


def lines_of(out: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in (out / "report.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_message_past_its_deadline_is_ended_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           workers: int) -> None:
    monkeypatch.setattr(Converter, "parse", faulty)  # forked workers inherit the fault
    keys = archive(tmp_path / "in.zip", {3: b"<!-- HANG -->"})
    started = time.monotonic()
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out", validate=False, progress="quiet",
                               workers=workers, chunk_size=4, timeout=1))
    assert time.monotonic() - started < 60
    lines = lines_of(tmp_path / "out")
    assert [line["source"] for line in lines] == keys
    assert [line["status"] for line in lines] == ["ok"] * 3 + ["failed"] + ["ok"] * 4
    assert lines[3]["error"]["message"] == "conversion took longer than the deadline of 1 s and was ended"  # type: ignore[index]
    assert outcome.exit_code == 1


def test_a_message_stuck_beyond_the_alarm_is_ended_by_the_watchdog(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Converter, "parse", faulty)
    keys = archive(tmp_path / "in.zip", {5: b"<!-- STUCK -->"})
    started = time.monotonic()
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out", validate=False, progress="quiet",
                               workers=1, chunk_size=4, timeout=1))
    assert time.monotonic() - started < 90
    lines = lines_of(tmp_path / "out")
    assert [line["source"] for line in lines] == keys
    assert [line["status"] for line in lines] == ["ok"] * 5 + ["failed"] + ["ok"] * 2
    assert lines[5]["error"]["message"] == WORKER_DIED  # type: ignore[index]
    assert outcome.summary is not None and outcome.summary["run"]["worker_crashes"] == 1


def test_commits_within_a_chunk_retried_member_by_member_name_a_member_they_cover(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a crash the chunk is retried one member at a time, and a commit can land inside it. The key each
    commit records for a resume's check (``last``: a chunk end at or before ``done`` and the key of the member
    before it) must be that member's: a key of another position would refuse every resume as "inputs changed"."""
    monkeypatch.setattr(Converter, "parse", faulty)
    keys = archive(tmp_path / "in.zip", {1: b"<!-- STUCK -->"})
    run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out", validate=False, progress="quiet", workers=1,
                     chunk_size=4, timeout=1, commit_seconds=0))
    commits = [json.loads(line) for line in (tmp_path / "out" / ".journal.jsonl").read_text().splitlines()
               if '"done"' in line and '"last"' in line]
    assert any(c["done"] % 4 for c in commits), "a commit inside the retried chunk"
    for c in commits:
        end, key = c["last"]
        assert end <= c["done"] and keys[end - 1].endswith(key.rpartition("/")[2]), c


def test_a_message_stuck_in_one_call_holding_the_gil_is_ended_from_the_parent(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Review F2: lxml's quadratic read of 100,000 attributes was one C call holding the GIL, which neither the
    alarm nor a watchdog thread in the worker could end. The parent kills such a worker after twice the deadline
    plus a second (here 3 s, against the ~30 s the call takes), as often as it is tried: alone, and then reported."""
    monkeypatch.setattr(Converter, "parse", faulty)
    keys = archive(tmp_path / "in.zip", {2: b"<!-- GIL -->"})
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out", validate=False, progress="quiet",
                               workers=1, chunk_size=4, timeout=1))
    lines = lines_of(tmp_path / "out")
    assert [line["source"] for line in lines] == keys
    assert [line["status"] for line in lines] == ["ok"] * 2 + ["failed"] + ["ok"] * 5
    assert lines[2]["error"]["message"] == WORKER_DIED  # type: ignore[index]
    assert outcome.summary is not None and outcome.summary["run"]["worker_crashes"] == 1


def test_a_worker_stamps_only_the_message_in_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the parent reads to find a stuck worker: a message's start while it runs, nothing between messages (an
    idle worker is never taken for a stuck one)."""
    monkeypatch.setattr(work, "_started", work._started)  # put back after the test: attach() rebinds both
    monkeypatch.setattr(work, "_slot", work._slot)
    clocks = work.Clocks(multiprocessing.get_context(), 2)
    clocks.attach()
    later = time.monotonic() + 1
    assert clocks.stuck(later) == []
    with work._deadline(0):
        assert clocks.stuck(later) == [os.getpid()]
        assert clocks.stuck(later - 2) == []
    assert clocks.stuck(later) == []


@pytest.mark.parametrize("workers", [0, 2])
def test_an_exception_outside_the_message_guard_fails_one_member_only(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      workers: int) -> None:
    """A bug in the worker's own plumbing (here: the chunk step raising for the chunk that holds the marked
    member) is one failed member: the chunk is redone member by member."""
    original = work.Worker.map_chunk

    def broken(self: work.Worker, chunk: work.Chunk) -> work.ChunkResult:
        if holds(chunk.members, b"<!-- RAISE -->"):
            raise RuntimeError("injected fault")
        return original(self, chunk)

    monkeypatch.setattr(work.Worker, "map_chunk", broken)
    keys = archive(tmp_path / "in.zip", {2: b"<!-- RAISE -->"})
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out.zip", validate=False, progress="quiet",
                               workers=workers, chunk_size=4))
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = zf.namelist()
        lines = [json.loads(x) for x in zf.read("report.jsonl").splitlines()]
    assert len(names) == len(set(names)), "no entry written twice by the member-by-member retry"
    assert [line["source"] for line in lines] == keys
    assert [line["status"] for line in lines] == ["ok", "ok", "failed"] + ["ok"] * 5
    assert lines[2]["error"]["message"] == "internal error in the worker: RuntimeError"
    assert outcome.exit_code == 1
