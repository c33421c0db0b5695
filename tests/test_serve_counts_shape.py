"""benchmarks/serve_counts.py counts SQL statements by shape: never a value of a message in what it writes.

Why: its trace callback sees each statement with its values bound in (Python 3.11 hands SQLite's expanded SQL), and
a message's values include BSNs and care data; only the statement's shape may reach the counts file.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import serve_counts  # a script folder, not a package


def test_a_statement_is_counted_without_its_values() -> None:
    sql = ("INSERT INTO message (route, source_key, original, n, f) VALUES ('default', '999999990|b00000000001|2024',"
           " X'3c783e', 42, 1.5e3)")
    assert serve_counts.shape(sql) == "INSERT INTO message (route, source_key, original, n, f) VALUES (?,…)"


def test_quotes_inside_a_value_and_an_in_list_leave_nothing_behind() -> None:
    sql = "SELECT id FROM delivery WHERE reason = 'it''s 123456782' AND id IN (1, 2, 3) AND zaak = 'Jansen'"
    shaped = serve_counts.shape(sql)
    assert shaped == "SELECT id FROM delivery WHERE reason = ? AND id IN (?,…) AND zaak = ?"
    assert not any(v in shaped for v in ("123456782", "Jansen", "it's"))
