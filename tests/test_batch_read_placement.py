"""Who reads a chunk's ZIP members follows who waits: the parent while it waits for the workers, else the workers.

With one worker on two cores the worker is the slower process, and members the parent reads while it would wait
anyway come off the run's slowest path; with more workers the parent is the slower one and the workers read
(gateway/batch/placement.py). These tests pin the decision (a fake clock), that a member read by the parent is
the member the worker would have read (bytes, or the same reason it cannot be had), and that a run reads in the
parent when told to and reports exactly as a run whose workers read.
"""

from __future__ import annotations

import os
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest
from test_batch_deferred_read import DAMAGED, MESSAGES, archive, count_reads, report

from gateway.batch import BatchOptions, placement, pool, run
from gateway.batch.chunking import chunked
from gateway.batch.inputs import Inputs, ZipRef, member_bytes
from gateway.batch.placement import START_READING, STOP_READING, WINDOW, ReadPlacement, read_here


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def window(decision: ReadPlacement, clock: Clock, waiting_share: float) -> bool:
    """One window of chunks, 1 s long, of which the parent waited ``waiting_share``; the decision after it."""
    for _ in range(WINDOW):
        decision.waited(waiting_share / WINDOW)
        clock.now += 1 / WINDOW
        decision.handed_back()
    return decision.parent_reads


def test_the_parent_reads_while_it_waits_and_hands_reads_back_once_it_does_not(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(placement.time, "monotonic", clock)
    decision = ReadPlacement()
    assert decision.parent_reads is False  # the workers read until the parent is seen waiting
    assert window(decision, clock, START_READING / 2) is False
    assert window(decision, clock, START_READING * 1.5) is True
    assert window(decision, clock, STOP_READING * 2) is True  # reading, and waiting a little: balanced, it stays
    assert window(decision, clock, STOP_READING / 2) is False  # the parent has become the slower process
    assert window(decision, clock, START_READING * 0.9) is False  # between the two: no flip back and forth
    assert decision.switches == 2


def test_a_window_is_looked_at_only_when_it_is_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(placement.time, "monotonic", clock)
    decision = ReadPlacement()
    decision.waited(0.9)
    clock.now += 1
    for _ in range(WINDOW - 1):
        decision.handed_back()
    assert decision.parent_reads is False
    decision.handed_back()
    assert decision.parent_reads is True


def test_read_here_reads_each_reference_and_leaves_bytes_alone(tmp_path: Path) -> None:
    """Through the same member_bytes a worker calls (that a run reports the same either way is the next test)."""
    path = archive(tmp_path / "in.zip")
    [chunk] = list(chunked(Inputs([path], defer_zip=True).members(), 64))
    read = read_here(chunk, 1 << 20)
    assert read.first == chunk.first
    for (key, ref, _, whole), (key_read, data, problem, whole_read) in zip(chunk.members, read.members, strict=True):
        assert isinstance(ref, ZipRef) and (key_read, whole_read) == (key, whole)
        assert (data, problem) == member_bytes(ref, 1 << 20)
    assert read.members[DAMAGED][1:3] == (b"", "member data does not match its checksum (archive damaged)")
    assert read_here(read, 1 << 20).members == read.members  # bytes stay bytes


def test_a_run_reads_where_it_is_told_and_reports_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = count_reads(monkeypatch)
    path = archive(tmp_path / "in.zip")
    reports = []
    for parent_reads in (True, False):
        reads.clear()
        monkeypatch.setattr(pool, "ReadPlacement", lambda reading=parent_reads: ReadPlacement(reading))
        out = tmp_path / f"out-{parent_reads}.zip"
        outcome = run(BatchOptions([path], out, workers=1, validate=False, progress="quiet", chunk_size=4))
        assert outcome.summary is not None and outcome.summary["status"] == {"ok": 11, "failed": 1}
        assert reads == ([os.getpid()] * len(MESSAGES) if parent_reads else [])
        reports.append(report(out))
    assert reports[0] == reports[1]
    [failed] = [line for line in reports[0] if line["status"] == "failed"]
    assert failed["source"] == f"in.zip/{MESSAGES[DAMAGED][0]}"
    assert failed["error"]["message"] == "member data does not match its checksum (archive damaged)"  # type: ignore[index]
    assert sum(len(line.get("outputs") or []) for line in reports[0]) >= 11  # type: ignore[arg-type]


def _slowed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: str) -> tuple[int, int]:
    """A run of 64 one-member chunks with one worker, where the worker (``slow="worker"``) or the parent takes
    ~15 ms a message, well above what a loaded machine adds to the other side; a slow parent also waits for each
    chunk it submits to be mapped (the worker runs at nice 10: a loaded host starved it, and the parent waited
    after all: 8 of 40 runs beside a loaded round): (members the parent read, placement switches)."""
    import time
    import zipfile

    from batch_corpus import varied

    from gateway.batch import ledgered, work

    if slow == "worker":
        original_map = work.Worker._map_one

        def slow_map(self: work.Worker, *args: object) -> object:
            time.sleep(0.015)
            return original_map(self, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(work.Worker, "_map_one", slow_map)  # the worker forks after this: it is slow too
    else:
        original_process = ledgered.LedgerStep.process

        def slow_process(self: ledgered.LedgerStep, result: object) -> object:
            time.sleep(0.015)
            return original_process(self, result)  # type: ignore[arg-type]

        monkeypatch.setattr(ledgered.LedgerStep, "process", slow_process)
        original_submit = pool.OrderedPool._submit

        def submit_and_let_it_finish(self: pool.OrderedPool, *args: Any) -> Any:
            # The parent is the slower process by construction, not by the scheduler's grace: it goes on only
            # once the worker has mapped what it handed over, so a worker starved on a loaded host (nice 10) is
            # never waited for. Unmeasured: the pool times only its wait for results, which then returns at once.
            future = original_submit(self, *args)
            if future is not None:
                futures.wait([future], timeout=60)
            return future

        monkeypatch.setattr(pool.OrderedPool, "_submit", submit_and_let_it_finish)
    reads = count_reads(monkeypatch)
    decisions: list[ReadPlacement] = []
    monkeypatch.setattr(pool, "ReadPlacement", lambda: decisions.append(ReadPlacement()) or decisions[-1])
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in varied(64):
            zf.writestr(name, data)
    outcome = run(BatchOptions([path], tmp_path / "out.zip", workers=1, validate=False, progress="quiet",
                               chunk_size=1))
    assert outcome.summary is not None and outcome.summary["status"] == {"ok": 64, "failed": 0}
    return len(reads), decisions[0].switches


def test_a_parent_waiting_for_a_slow_worker_reads_the_members_itself(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    read, _ = _slowed_run(tmp_path, monkeypatch, "worker")
    assert read >= 64 - 2 * WINDOW - 8  # from the first look on (a window, plus the chunks already submitted)


def test_a_slow_parent_leaves_the_reads_to_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read, switches = _slowed_run(tmp_path, monkeypatch, "parent")
    assert read <= WINDOW + 8  # at most after a first look that saw the start-up's wait
    assert switches % 2 == 0  # and the workers read again at the end
