"""The cyclic collector during a batch run (gateway/batch/runner.py ``run_collector``).

The parent holds a chunk's results while it renders them; at CPython's default threshold every young collection
walked them again (~430 collections and ~12 µs a message in a 10,000-message run, docs/performance-history.md,
session 32). These tests run a real batch in this process (the parent is this test's process) and check the run's
threshold, the young collections its chunks cause, and that the caller gets its own thresholds back.
"""

from __future__ import annotations

import gc
import zipfile
from pathlib import Path
from typing import Any

import pytest
from batch_corpus import varied
from click.testing import CliRunner

from gateway.batch import ledgered
from gateway.batch.runner import RUN_GC_THRESHOLD
from gateway.cli import main

COUNT = 600


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("collector") / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in varied(COUNT):
            zf.writestr(name, data)
    return path


def watched_run(archive: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[int], str]:
    """A batch of ``archive`` with one worker: the thresholds each chunk's render saw, the young collections
    while chunks rendered, and the summary line."""
    seen: list[Any] = []
    young = [0]
    rendering = [False]
    original = ledgered.LedgerStep.process

    def process(self: ledgered.LedgerStep, result: Any) -> Any:
        seen.append(gc.get_threshold())
        rendering[0] = True
        try:
            return original(self, result)
        finally:
            rendering[0] = False

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and rendering[0] and info["generation"] == 0:
            young[0] += 1

    monkeypatch.setattr(ledgered.LedgerStep, "process", process)
    gc.callbacks.append(count)
    try:
        result = CliRunner().invoke(main, ["batch", str(archive), "--out", str(out), "--workers", "1", "--quiet",
                                           "--state", str(out) + ".state"], catch_exceptions=False)
    finally:
        gc.callbacks.remove(count)
    assert result.exit_code == 0, result.stderr
    return seen, young, result.stdout


def test_a_run_collects_its_young_objects_every_run_threshold_and_gives_the_callers_back(
        archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    gc.set_threshold(900, 11, 12)  # the caller's own, not CPython's default: it must come back exactly
    try:
        seen, young, summary = watched_run(archive, tmp_path / "out.zip", monkeypatch)
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert f"{COUNT} input(s): {COUNT} ok, 0 failed" in summary
    assert len(seen) >= COUNT // 64 and set(seen) == {(RUN_GC_THRESHOLD, 11, 12)}
    assert after == (900, 11, 12)
    # at 900, 600 messages' renders cost ~20 young collections; at 7,000 one or two
    assert young[0] <= 4, f"{young[0]} young collections while {COUNT} messages rendered"


def test_a_caller_with_a_higher_threshold_keeps_it_for_the_run(archive: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    gc.set_threshold(50_000, 10, 10)
    try:
        seen, _, _ = watched_run(archive, tmp_path / "out.zip", monkeypatch)
        after = gc.get_threshold()
    finally:
        gc.set_threshold(*before)
    assert seen and set(seen) == {(50_000, 10, 10)} and after == (50_000, 10, 10)
