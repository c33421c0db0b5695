"""benchmarks/batch_counts.py counts what a function causes: its Python calls by function and its SQL statements by
shape, the trace itself adding no call (a bare ``list.append`` called from C), and no value of a message kept.

Why: the counts compare two trees (session 30); a harness whose own trace showed up as calls would move the
comparison with the number of statements, and a value in the counts file could be a BSN.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import batch_counts  # a script folder, not a package


def _helper() -> None:
    """A function the counted work calls, three times."""


def test_calls_and_statement_shapes_of_what_runs_are_counted() -> None:
    conn = batch_counts._traced_connect(sqlite3.connect)(":memory:")
    conn.execute("CREATE TABLE t (k TEXT)")

    def work() -> None:
        for i in range(3):
            conn.execute("INSERT INTO t VALUES (?)", (f"999999990-{i}",))
            _helper()
        conn.execute("SELECT k FROM t WHERE k = '999999990-1'").fetchone()

    calls, statements = batch_counts._counted(work)
    assert calls["tests/test_batch_counts.py(_helper)"] == 3
    assert calls["<method 'execute' of 'sqlite3.Connection' objects>"] == 4
    assert calls["<method 'append' of 'list' objects>"] == 0  # the trace's own
    assert statements == {"BEGIN": 1, "INSERT INTO t VALUES (?)": 3, "SELECT k FROM t WHERE k = ?": 1}  # sqlite3 begins
    assert "999999990" not in repr(statements)
