"""A read of the outbox leaves its folder as it found it, and reads a folder it may not write (session 24).

Why: ``outbox list``/``show`` and ``shadow report`` opened the outbox with SQLite's ``mode=ro``, which makes
``-wal``/``-shm`` beside a WAL database that had none and, read-only, cannot remove them; and in a read-only folder
(555, files 444: a sidecar that stopped cleanly leaves no -wal) SQLite could not open it at all, which the command
called "not an outbox". Real CLI runs over real SQLite files. chmod does not stop root: run as root, the permission
part runs the command as ``nobody`` (setpriv), and is skipped only when that is not possible.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.deliver import outbox

REPO = Path(__file__).resolve().parents[1]
READS = [["outbox", "list"], ["outbox", "show", "--message", "1"], ["shadow", "report"]]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _outbox(folder: Path) -> Path:
    """An outbox as a sidecar that stopped cleanly leaves it: one file, one quarantined message in it."""
    path = outbox.open_db(folder)
    conn = outbox.connect(path)
    try:
        with outbox.transaction(conn):
            outbox.keep_quarantined(conn, outbox.NewMessage("default", "translate", b"<kapot/>", reason="junk"))
    finally:
        conn.close()
    assert sorted(os.listdir(folder)) == [outbox.DB_NAME]
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_commands_leave_a_stopped_sidecars_folder_with_the_names_it_had(tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = _digest(_outbox(data))
    for command in READS:
        result = CliRunner().invoke(main, [*command, "--data-dir", str(data)])
        assert result.exit_code == 0, (command, result.output)
        assert sorted(os.listdir(data)) == [outbox.DB_NAME], command  # no -wal, no -shm left behind
    assert _digest(data / outbox.DB_NAME) == before
    listed = CliRunner().invoke(main, ["outbox", "list", "--data-dir", str(data)]).output
    assert "1 quarantined" in listed


def test_beside_a_running_writer_a_read_sees_what_is_only_in_its_wal(tmp_path: Path) -> None:
    """A -wal beside the file: a writer is at work, so the read goes through its WAL (never as immutable, which would
    miss the newest commits), and its -wal/-shm are left to it."""
    data = tmp_path / "data"
    _outbox(data)
    writer = outbox.connect(data / outbox.DB_NAME)
    try:
        writer.execute("PRAGMA wal_autocheckpoint=0")  # the commit stays in the WAL
        with outbox.transaction(writer):
            outbox.keep_quarantined(writer, outbox.NewMessage("default", "translate", b"<nog kapotter/>", reason="x"))
        names = sorted(os.listdir(data))
        assert names == [outbox.DB_NAME, outbox.DB_NAME + "-shm", outbox.DB_NAME + "-wal"]
        listed = CliRunner().invoke(main, ["outbox", "list", "--data-dir", str(data)])
        assert listed.exit_code == 0 and "2 quarantined" in listed.output, listed.output
        assert sorted(os.listdir(data)) == names
    finally:
        writer.close()


@dataclass
class Unprivileged:
    """A data folder another user can reach (pytest's tmp folders are 700), and the CLI run as a user chmod applies
    to: this one, or under root ``nobody``, over a copy of this checkout's ``gateway`` it can read (else it would
    import whatever ``gateway`` the environment has installed, not the code under test)."""

    data: Path
    prefix: list[str]
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, sys.executable, "-c", "from gateway.cli import main; main()", *args],
                              env=self.env, capture_output=True, text=True, timeout=120, check=False)

    def freeze(self) -> None:
        """As a sidecar's folder on a read-only volume: files 444, the folder 555."""
        for path in self.data.iterdir():
            path.chmod(0o444)
        self.data.chmod(0o555)


@contextlib.contextmanager
def _unprivileged() -> Iterator[Unprivileged]:
    top = Path(tempfile.mkdtemp(prefix="overstap-ro-", dir="/tmp"))
    top.chmod(0o755)
    data = top / "data"
    try:
        prefix, source = [], REPO
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                pytest.skip("running as root, and no setpriv to run the command as another user: chmod does not "
                            "stop root")
            prefix, source = NOBODY, top / "src"
            shutil.copytree(REPO / "gateway", source / "gateway", ignore=shutil.ignore_patterns("__pycache__"))
        env = {**os.environ, "PYTHONPATH": str(source), "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
        probe = subprocess.run([*prefix, sys.executable, "-c", "import gateway; print(gateway.__file__)"], env=env,
                               capture_output=True, text=True, check=False, cwd=top)
        if probe.returncode != 0:
            pytest.skip(f"running as root, and nobody cannot run this Python ({probe.stderr.strip()[-200:]})")
        assert probe.stdout.strip() == str(source / "gateway" / "__init__.py"), probe.stdout
        yield Unprivileged(data, prefix, env)
    finally:
        for path in (data, *data.glob("*")) if data.exists() else ():
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(top)


def test_read_commands_work_in_a_read_only_folder_and_leave_it_as_it_was() -> None:
    with _unprivileged() as user:
        data = user.data
        before = _digest(_outbox(data))
        user.freeze()
        for command in READS:
            done = user.run(*command, "--data-dir", str(data))
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            assert "not an outbox" not in done.stdout + done.stderr
        assert "1 quarantined" in user.run("outbox", "list", "--data-dir", str(data)).stdout
        assert sorted(os.listdir(data)) == [outbox.DB_NAME] and _digest(data / outbox.DB_NAME) == before


def test_a_read_only_folder_sqlite_cannot_read_is_said_to_be_not_writable_not_not_an_outbox() -> None:
    """A -wal left by a sidecar that stopped hard, no -shm, and a folder nobody may write: SQLite cannot read it
    (it must make the -shm), and the refusal says why."""
    with _unprivileged() as user:
        data = user.data
        path = _outbox(data)
        (data / (outbox.DB_NAME + "-wal")).write_bytes(b"")
        user.freeze()
        done = user.run("outbox", "list", "--data-dir", str(data))
        assert done.returncode != 0 and "not an outbox" not in done.stdout + done.stderr
        assert f"error: {path}: cannot read the outbox: its folder {data} is not writable" in done.stderr, done.stderr
        assert sorted(os.listdir(data)) == [outbox.DB_NAME, outbox.DB_NAME + "-wal"]
