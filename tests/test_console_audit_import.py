"""``overstap console import-audit``: a replica's old audit file into the PostgreSQL store's ``console_audit``, once.

A real file as session 27 wrote it (one sorted JSON object a line, two identical lines of one second, a line torn by
a crash in the middle and one at the end) and a real PostgreSQL server: imported, imported again (nothing added),
the torn lines named by number, and the entries on the audit page by their time among the store's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import console_helpers
import pg_helpers
import pytest
from console_helpers import local_console

server = pg_helpers.server  # one PostgreSQL server for this module
AUDITED = re.compile(r'<tr><td>([^<]+)</td><td>(\w+)</td><td class="action">(\w+)</td><td>([^<]*)</td>'
                     r'<td class="source">([^<]*)</td></tr>')
"""An entry's row on a page that shows an imported entry: time, user, action, details, the source it came from."""


def line(time: str, user: str, action: str, **ids: object) -> str:
    """An entry as the console of session 27 wrote it (``json.dumps(..., sort_keys=True)``)."""
    return json.dumps({"time": time, "user": user, "action": action, **ids}, sort_keys=True)


OLD = [line("2026-11-30T09:00:00+00:00", "anna", "login"),
       line("2026-11-30T09:01:00+00:00", "anna", "view_payload", message_id=12),
       '{"action": "purge", "deli',  # line 3: torn by a crash, then the process went on
       line("2026-11-30T09:02:00+00:00", "anna", "view_payload", message_id=12),
       line("2026-11-30T09:02:00+00:00", "anna", "view_payload", message_id=12),  # the page loaded twice in a second
       line("2026-11-30T09:03:00+00:00", "anna", "replay", delivery_id=7, message_id=12, ok=True),
       line("2026-11-30T09:04:00+00:00", "anna", "logout")]


run = console_helpers.import_audit


def test_an_old_audit_file_is_imported_once_torn_lines_named_and_shown_by_time(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = pg_helpers.database_for(server, request, "imp")
    local = local_console(tmp_path / "now", store=url)
    otto = local.login("otto")  # an entry of today, in the store
    old = tmp_path / "replica-b"
    old.mkdir()
    not_iso = line("30-11-2026 09:05", "anna", "logout")  # a time the page could not order: line 8
    (old / "console-audit.jsonl").write_text("\n".join([*OLD, not_iso]) + '\n{"act', encoding="utf-8")  # torn: 9

    code, out, err = run("--data-dir", str(old), "--store", url, "--source", "replica-b")
    assert code == 0, out + err
    assert "imported 6 entries into postgresql://127.0.0.1" in out and "; 0 already there" in out
    assert "3 line(s) not imported, no entry (torn by a crash mid-write, cut, or a time not ISO 8601): line 3, 8, 9" \
        in err
    assert local.sql("SELECT count(*) FROM console_audit") == [(7,)]  # today's login and the six

    code, out, err = run("--data-dir", str(old), "--store", url, "--source", "replica-b")  # again: nothing added
    assert code == 0 and "imported 0 entries" in out and "6 already there" in out and "line 3, 8, 9" in err
    copy = tmp_path / "backup.jsonl"  # a copy of it from a backup, with an entry the live file lacked
    copy.write_text("\n".join([*OLD, line("2026-11-30T10:05:00+01:00", "ben", "login")]) + "\n", encoding="utf-8")
    code, out, _ = run("--file", str(copy), "--store", url, "--source", "replica-b")
    assert code == 0 and "imported 1 entry into" in out and "6 already there" in out
    assert local.sql("SELECT count(*) FROM console_audit") == [(8,)]

    rows = AUDITED.findall(otto.get("/console/audit").text)
    assert [(t, u, a, s) for t, u, a, _, s in rows] == [
        (rows[0][0], "otto", "login", ""),  # today's, though its id is the smallest; written here, no source
        ("2026-11-30T09:05:00+00:00", "ben", "login", "replica-b"),  # written at +01:00: in UTC, as the console writes
        ("2026-11-30T09:04:00+00:00", "anna", "logout", "replica-b"),
        ("2026-11-30T09:03:00+00:00", "anna", "replay", "replica-b"),
        ("2026-11-30T09:02:00+00:00", "anna", "view_payload", "replica-b"),
        ("2026-11-30T09:02:00+00:00", "anna", "view_payload", "replica-b"),  # both loads of that second: two entries
        ("2026-11-30T09:01:00+00:00", "anna", "view_payload", "replica-b"),
        ("2026-11-30T09:00:00+00:00", "anna", "login", "replica-b")]
    assert rows[0][0] > "2026-12"
    replay = rows[3][3]
    assert re.fullmatch(r"delivery_id=7 imported=[0-9a-f]{24}:0 message_id=12 ok=True", replay), replay
    twice = sorted(r[3].split("imported=")[1].split(" ")[0] for r in rows[4:6])
    assert twice[0].split(":")[0] == twice[1].split(":")[0] and [k[-2:] for k in twice] == [":0", ":1"]


def test_import_audit_wants_a_postgresql_store_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "console-audit.jsonl").write_text(OLD[0] + "\n", encoding="utf-8")
    code, _, err = run("--data-dir", str(tmp_path))
    assert code == 2 and "import-audit brings an audit file into a PostgreSQL store's console_audit" in err
    code, _, err = run("--data-dir", str(tmp_path / "elsewhere"), "--store", "postgresql://127.0.0.1:1/x")
    assert code == 2 and "no audit file at" in err and "elsewhere" in err
