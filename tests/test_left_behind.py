"""The suite's own promise that it leaves no process behind (tests/conftest.py), with one test process and with
the two xdist workers ``make test`` runs: a worker's exit status is not the run's, so its leftovers must reach the
controller, or a leaking test would pass in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LEFT_BEHIND_WAIT = "OVERSTAP_LEFT_BEHIND_WAIT"
"""How long the run waits for the processes it started to end (tests/conftest.py; 10 s unless set)."""
LEAK = "import subprocess\n\n\ndef test_starts_a_process_and_forgets_it():\n    subprocess.Popen(['sleep', '47'])\n"


@pytest.mark.parametrize("processes", [["-p", "no:xdist"], ["-n", "2"]], ids=["one-process", "xdist-workers"])
def test_a_process_left_behind_fails_the_run_and_is_killed(tmp_path: Path, processes: list[str]) -> None:
    (tmp_path / "test_leak.py").write_text(LEAK)
    # the leak never ends by itself: one second of the run's wait for its processes shows it as well as ten
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)]), LEFT_BEHIND_WAIT: "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", *processes, "--rootdir", str(tmp_path),
                          "-p", "no:cacheprovider", str(tmp_path / "test_leak.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout
    assert "processes left behind by the test run (still there 1 s after it, now killed)" in run.stdout
    assert "sleep 47" in run.stdout
    assert not [p for p in Path("/proc").glob("[0-9]*") if _cmdline(p) == b"sleep\x0047\x00"], "not killed"


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""
