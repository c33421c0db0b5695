"""``benchmarks/console_bench.py`` cleans up after itself: without --data it fills an outbox in a temporary folder
(about 1 GB at its default million messages) and removes it when it ends; a --data folder is kept for reuse. With
--store it measures the console on a PostgreSQL store the outbox was copied to."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pg_helpers
import pytest
from pg_helpers import database_for

from gateway.pgstore.conn import PgConnection

ROOT = Path(__file__).resolve().parents[1]
server = pg_helpers.server  # started only for the test with --store


def bench(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": str(ROOT)}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "console_bench.py"), "-n", "60", "--rounds", "1",
                           *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_console_benchmark_removes_its_temporary_outbox_and_keeps_a_named_one(tmp_path: Path) -> None:
    done = bench(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "console-bench-" in done.stderr and "purge preview" in done.stdout  # it did fill and measure there
    assert list((tmp_path / "tmp").iterdir()) == []
    kept = bench(tmp_path, "--data", str(tmp_path / "kept"))
    assert kept.returncode == 0, kept.stderr
    assert (tmp_path / "kept" / "outbox.sqlite3").is_file()


def test_the_console_benchmark_reads_a_postgresql_store(tmp_path: Path, server: str,
                                                        request: pytest.FixtureRequest) -> None:
    store = database_for(server, request, "bench")
    done = bench(tmp_path, "--store", store)
    assert done.returncode == 0, done.stderr
    assert "copy to the store:" in done.stdout and "(60 messages)" in done.stdout and "purge preview" in done.stdout
    with closing(PgConnection(store)) as pg:
        assert pg.execute("SELECT count(*) FROM message").fetchone()[0] == 60
        assert pg.execute("SELECT to_regclass('console_zaak_key') IS NOT NULL").fetchone()[0]  # the console read it
    assert list((tmp_path / "tmp").iterdir()) == []
