"""Crash safety: a batch killed half-way (SIGKILL, or stopped with Ctrl-C) and resumed ends with exactly
the OUT of an uninterrupted run: the same outputs, the same quarantine, the same report, line for line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from batch_corpus import archive_tree, summary_without_run, tree, varied

from gateway.batch import BatchOptions, run
from gateway.batch.sinks import SinkSpec

COUNT = 1200
BROKEN_EVERY = 97
OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]


@pytest.fixture(scope="module")
def archive(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "history.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in varied(COUNT, BROKEN_EVERY):
            zf.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def uninterrupted(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """The OUT of an uninterrupted run per output kind, made once and shared by the tests that compare with it."""
    made: dict[str, Path] = {}

    def get(suffix: str) -> Path:
        if suffix not in made:
            out = tmp_path_factory.mktemp("uninterrupted") / f"reference{suffix}"
            state = str(out.parent / "state")  # its own zaak ledger: the same history from the start
            assert run(BatchOptions([archive], out, workers=2, progress="quiet", state=state)).summary is not None
            made[suffix] = out
        return made[suffix]

    return get


def snapshot(out: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    """Everything in OUT but timing: files (or archive members) and the summary without its ``run`` part."""
    if out.is_dir():
        return tree(out), summary_without_run((out / "summary.json").read_bytes())
    members = archive_tree(out)
    if out.name.endswith(".zip"):
        with zipfile.ZipFile(out) as zf:
            summary = zf.read("summary.json")
    else:
        import tarfile

        with tarfile.open(out, "r:*") as tf:
            summary = tf.extractfile("summary.json").read()  # type: ignore[union-attr]
    return members, summary_without_run(summary)


def commits(journal: Path) -> list[dict[str, object]]:
    try:
        lines = journal.read_bytes().split(b"\n")[1:-1]  # header first; the last piece may be torn
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line]


def group_gone(pgid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("suffix, sig", [
    ("", signal.SIGKILL),
    (".zip", signal.SIGKILL),
    (".tar.gz", signal.SIGKILL),
    (".zip", signal.SIGINT),
])
def test_killed_half_way_then_resumed_equals_an_uninterrupted_run(suffix: str, sig: signal.Signals, archive: Path,
                                                                  uninterrupted: Callable[[str], Path],
                                                                  tmp_path: Path, reference_dir: Path) -> None:
    out = tmp_path / f"out{suffix}"
    state = tmp_path / "state"  # the zaak ledger the killed run and its resume share
    journal = SinkSpec.for_target(out, 0).journal
    env = {**os.environ, "OVERSTAP_REFERENCE_DIR": str(reference_dir)}
    # One worker (the resume uses two): a slow enough run to stop half-way even on a fast machine.
    proc = subprocess.Popen([*OVERSTAP, "batch", str(archive), "--out", str(out), "--workers", "1",
                             "--chunk-size", "8", "--commit-interval", "0.05", "--quiet", "--state", str(state)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            found = commits(journal)
            done = int(found[-1]["done"]) if found else 0  # type: ignore[call-overload]
            if done >= COUNT // 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before it could be interrupted: {proc.stderr.read()!r}"
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=30)
        assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130)
        if sig == signal.SIGKILL:
            left = subprocess.run(["ps", "-o", "pid,ppid,stat,etime,cmd", "-g", str(proc.pid)], capture_output=True,
                                  text=True).stdout
            assert group_gone(proc.pid, within=5), f"orphaned workers notice the parent is gone and exit:\n{left}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    stopped_at = int(commits(journal)[-1]["done"])  # type: ignore[call-overload]
    assert COUNT // 2 <= stopped_at < COUNT, "interrupted half-way"
    assert not out.is_file() or out.is_dir(), "an unfinished archive never appears under its final name"

    resumed = run(BatchOptions([archive], out, workers=2, resume=True, progress="quiet", chunk_size=8,
                               state=str(state)))
    assert resumed.exit_code == 1 and resumed.summary is not None
    assert resumed.summary["run"]["resumed_from"] == stopped_at
    assert resumed.summary["inputs"] == COUNT

    files, summary = snapshot(out)
    ref_files, ref_summary = snapshot(uninterrupted(suffix))
    assert summary == ref_summary
    assert files.keys() == ref_files.keys()
    assert files == ref_files, "same outputs, quarantine and report: nothing lost, nothing twice"
    report = files["report.jsonl"].decode().splitlines()
    assert len(report) == COUNT == len({json.loads(line)["source"] for line in report})
    assert summary["status"] == {"ok": COUNT - COUNT // BROKEN_EVERY, "failed": COUNT // BROKEN_EVERY}
