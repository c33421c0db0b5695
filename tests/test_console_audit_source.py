"""The audit page names where an imported entry came from (session 30): ``console_audit.source``, the replica whose
old file ``overstap console import-audit`` brought it in from, in a column shown only when a shown entry has one.

A real PostgreSQL server, a real sidecar with its console over HTTP on 127.0.0.1, two replicas' files imported by
the real command (one under a ``--source`` holding markup, one under its default ``file:<digest>``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import console_helpers
import pg_helpers
import pytest
from console_helpers import ADMIN_KEY, console_config, login
from proxy_helpers import Start
from test_console_audit_import import line

server = pg_helpers.server  # one PostgreSQL server for this module
ROW = re.compile(r'<tr><td>([^<]+)</td><td>(\w+)</td><td class="action">(\w+)</td><td>[^<]*</td>'
                 r'(?:<td class="source">([^<]*)</td>)?</tr>')
"""An entry's row: time, user, action, then the source cell when the page has that column (None when not)."""
A = [line("2026-11-30T09:00:00+00:00", "anna", "login"),
     line("2026-11-30T09:02:00+00:00", "anna", "view_payload", message_id=12)]
B = [line("2026-11-30T09:01:00+00:00", "ben", "login")]
MARKED = "<b>replica-a</b> & 'co'"
"""A source an operator typed, markup and all: the page shows it as text."""


def old_file(tmp_path: Path, name: str, lines: list[str]) -> Path:
    """A replica's old ``console-audit.jsonl``, as the console of session 27 wrote it."""
    path = tmp_path / name / "console-audit.jsonl"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_audit_page_names_each_imported_entrys_source_escaped_and_none_for_its_own(
        start: Start, server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = pg_helpers.database_for(server, request, "src")
    running, _gw = start({"default": {"downstream": "http://127.0.0.1:9/zs"}}, {}, admin_key=ADMIN_KEY,
                         console=console_config(), store=store)
    otto = login(running.url, "otto")  # today's entry, written by the console: no source
    page = otto.get("/console/audit")
    assert page.status_code == 200 and "Imported from" not in page.text and 'class="source"' not in page.text
    assert [r[1:] for r in ROW.findall(page.text)] == [("otto", "login", "")]  # no column: nothing imported

    code, out, err = console_helpers.import_audit("--file", str(old_file(tmp_path, "a", A)), "--store", store,
                                                  "--source", MARKED)
    assert code == 0 and "imported 2 entries" in out, out + err
    code, out, err = console_helpers.import_audit("--file", str(old_file(tmp_path, "b", B)), "--store", store)
    assert code == 0 and "imported 1 entry" in out, out + err
    default = f"file:{hashlib.sha256(B[0].encode()).hexdigest()[:24]}"

    page = otto.get("/console/audit")
    assert page.status_code == 200, page.text
    assert "<th>Imported from</th>" in page.text and "<em>Imported\n  from</em> names the source" in page.text
    shown = "&lt;b&gt;replica-a&lt;/b&gt; &amp; &#39;co&#39;"
    rows = ROW.findall(page.text)
    assert rows == [(rows[0][0], "otto", "login", ""),  # newest first by time; the console's own: an empty cell
                    ("2026-11-30T09:02:00+00:00", "anna", "view_payload", shown),
                    ("2026-11-30T09:01:00+00:00", "ben", "login", default),
                    ("2026-11-30T09:00:00+00:00", "anna", "login", shown)]
    assert f'<td class="source">{shown}</td>' in page.text and "<b>replica-a" not in page.text
    assert rows[0][0] > "2026-12"
