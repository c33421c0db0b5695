"""``compliance --listen`` ends by itself when nothing arrives, and on Ctrl-C / SIGTERM, saying so in one line.

Why: it used to wait for ever for a first message (only ``--idle`` after the last one bounded it), holding its port
and the operator's terminal; SIGTERM ended it without a word and Ctrl-C with a traceback. The real command runs in
a subprocess in a session of its own, with a timeout: a mutant that puts the endless wait back fails, not hangs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proxy_helpers import free_port

OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]


def start(tmp_path: Path, port: int, reference_dir: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OVERSTAP_REFERENCE_DIR": str(reference_dir)}
    return subprocess.Popen([*OVERSTAP, "compliance", "--listen", str(port), "--out", str(tmp_path / "out"), *args],
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def ended(proc: subprocess.Popen[str], within: float) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``proc`` once it ended; killed (and the test failed) if it did not."""
    try:
        out, err = proc.communicate(timeout=within)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"compliance --listen still running after {within}s")
    return proc.returncode, out, err


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def left_over(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_nothing_arriving_within_wait_ends_with_exit_1_and_names_the_address(tmp_path: Path,
                                                                              reference_dir: Path) -> None:
    port = free_port()
    began = time.monotonic()
    code, out, err = ended(start(tmp_path, port, reference_dir, "--wait", "2", "--idle", "1"), within=45)
    took = time.monotonic() - began
    assert code == 1
    assert err.splitlines()[-1] == (f"error: nothing arrived at http://127.0.0.1:{port}/soap within 2 s; "
                                    "no scenario judged, no report written")
    assert "giving up if none within 2s" in err.splitlines()[0]
    assert out == "" and not (tmp_path / "out" / "compliance.html").exists()
    assert 2 <= took < 30
    assert port_free(port), "the testbed's port is released"


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_or_ctrl_c_stops_the_testbed_with_one_line(sig: signal.Signals, code: int, tmp_path: Path,
                                                          reference_dir: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port, reference_dir, "--wait", "600")
    try:
        deadline = time.monotonic() + 30
        while port_free(port) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the testbed holds its port
        assert proc.poll() is None and not port_free(port)
        os.kill(proc.pid, sig)
        got, out, err = ended(proc, within=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert got == code
    assert err.splitlines()[-1] == (f"error: stopped listening at http://127.0.0.1:{port}/soap after 0 message(s); "
                                    "no scenario judged, no report written")
    assert "Traceback" not in err and out == ""
    assert not left_over(proc.pid) and port_free(port)
