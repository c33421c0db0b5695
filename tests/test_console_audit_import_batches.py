"""``overstap console import-audit`` in batches (session 30): each committed before the next is read, so the memory
held stays flat whatever the file's size, and an import killed half way, run again, ends with exactly the file's
entries.

A real PostgreSQL server; the kill is a real SIGKILL of the CLI in its own process, while its second batch waits on a
row lock this test holds (so the kill lands between the first batch's commit and the second's, however loaded the
machine).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import tracemalloc
from contextlib import closing
from pathlib import Path

import console_helpers
import pg_helpers
import pytest
from test_console_audit_import import line
from test_console_audit_import_sources import migrated, sql

from gateway.console import auditimport
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server  # one PostgreSQL server for this module
ROOT = Path(__file__).resolve().parent.parent


def audit_file(path: Path, n: int, pad: int = 0) -> Path:
    """``n`` distinct entries, a second apart (``pad``: that many more bytes a line)."""
    path.write_text("".join(line(f"2026-11-30T{9 + i // 3600:02}:{i // 60 % 60:02}:{i % 60:02}+00:00", "anna",
                                 "view_payload", message_id=i, **({"pad": "p" * pad} if pad else {})) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def test_an_import_killed_after_its_first_batch_goes_on_where_it_stopped(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = migrated(server, request)
    path = audit_file(tmp_path / "console-audit.jsonl", 500)
    with closing(PgConnection(url)) as first:  # built before the lock below: a concurrent build would wait on it
        auditimport.ensure_unique(first)
    _, row = list(auditimport.rows(path, auditimport.Lines(), auditimport.Lines()))[149]  # line 150: batch two
    blocker = PgConnection(url)
    blocker.raw.execute("BEGIN")
    blocker.raw.execute(auditimport.INSERT, {**row, "source": "a"})  # uncommitted: the importer's same key waits on it
    child = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "console", "import-audit",
                              "--file", str(path), "--store", url, "--source", "a", "--batch", "100"],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [said.put(t) for t in child.stderr or ()], daemon=True).start()
    try:
        assert said.get(timeout=120) == "100 entries committed (to line 100)\n"
        assert child.poll() is None  # waiting on line 150's key
        child.send_signal(signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(60)
        blocker.raw.execute("ROLLBACK")
        blocker.close()
    assert sql(url, "SELECT count(*) FROM console_audit") == [(100,)]  # the first batch, the second never committed

    code, out, err = console_helpers.import_audit("--file", str(path), "--store", url, "--source", "a", "--batch",
                                                  "100")
    assert code == 0, out + err
    assert "imported 400 entries" in out and "100 already there" in out
    assert err.splitlines() == [f"{n} entries committed (to line {n})" for n in range(100, 501, 100)]
    assert sql(url, "SELECT count(*), count(DISTINCT details->>'message_id'), min((details->>'message_id')::int), "
                    "max((details->>'message_id')::int) FROM console_audit") == [(500, 500, 0, 499)]


def test_a_refusal_in_the_second_batch_says_the_first_is_kept_and_a_second_run_ends_the_file(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """PostgreSQL refuses one row of the second batch (a trigger, as a constraint a DBA added would): the first
    batch stays and the report says so (before session 30: one transaction, "nothing was imported")."""
    url = migrated(server, request)
    path = audit_file(tmp_path / "console-audit.jsonl", 250)
    sql(url, "CREATE FUNCTION refuse_150() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             "IF NEW.details->>'message_id' = '150' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$")
    sql(url, "CREATE TRIGGER refuse_150 BEFORE INSERT ON console_audit FOR EACH ROW EXECUTE FUNCTION refuse_150()")
    args = ("--file", str(path), "--store", url, "--source", "a", "--batch", "100")
    code, out, err = console_helpers.import_audit(*args)
    assert code == 1 and out == "", out
    assert err.splitlines() == ["100 entries committed (to line 100)",
                                f"error: {url.replace('overstap@', '')}: RaiseException (P0001); the 100 entries "
                                "committed before it stay; run it again to import the rest"], err
    assert sql(url, "SELECT count(*) FROM console_audit") == [(100,)]
    sql(url, "DROP TRIGGER refuse_150 ON console_audit")
    code, out, err = console_helpers.import_audit(*args)
    assert code == 0 and "imported 150 entries" in out and "100 already there" in out, out + err
    assert sql(url, "SELECT count(*) FROM console_audit") == [(250,)]


def test_the_memory_held_is_a_batch_and_a_window_of_digests_whatever_the_file_size(
        server: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """5,000 entries of about 1 KB in batches of 100 and a window of 100 digests: held as one transaction (or every
    digest counted, session 29), the import's peak grew with the file (here by megabytes, or half of one)."""
    url = migrated(server, request)
    monkeypatch.setattr(auditimport, "WINDOW", 100)
    peaks = []
    for n in (1_000, 5_000):
        path = audit_file(tmp_path / f"audit-{n}.jsonl", n, pad=1000)
        conn = PgConnection(url)
        tracemalloc.start()
        try:
            done = auditimport.import_file(conn, path, f"replica-{n}", batch=100)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            conn.close()
        assert (done.added, done.present, done.held) == (n, 0, 100)
        peaks.append(peak)
    assert peaks[1] < peaks[0] + 250_000, peaks  # five times the file, the same peak
    assert peaks[1] < 2_000_000, peaks
