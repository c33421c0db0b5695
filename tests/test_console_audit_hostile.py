"""The audit page over a hostile audit file (session 29's review): one line nested 100,000 deep, markup in the
account and action, control characters. The page shows the other entries, escaped, and says a line was skipped.

Why: the file's lines are read with Python's JSON reader, which raises RecursionError (not a ValueError) on deep
nesting; before this review that one line made the whole page a 503 "could not be read", hiding every entry.
A real file, the real console over HTTP (Starlette's test client).
"""

from __future__ import annotations

import json
from pathlib import Path

from console_helpers import local_console

AT = "2026-12-07T06:00:00+00:00"


def test_a_deep_line_is_skipped_markup_and_control_characters_escaped(tmp_path: Path) -> None:
    local = local_console(tmp_path)
    otto = local.login("otto")
    deep = b'{"action": "x", "d": ' + b"[" * 100_000 + b"]" * 100_000 + b', "time": "' + AT.encode() + b'"}'
    marked = json.dumps({"time": AT, "user": "<script>alert(1)</script>", "action": "<b>purge</b>",
                         "note": "\x1b[31m\x07\x00"}).encode()
    with (tmp_path / "console-audit.jsonl").open("ab") as out:
        out.write(deep + b"\n" + marked + b"\n")
    page = otto.get("/console/audit")
    assert page.status_code == 200, page.text
    assert "<td>otto</td>" in page.text  # the login before them, still shown
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page.text and "<script>alert" not in page.text
    assert '<td class="action">&lt;b&gt;purge&lt;/b&gt;</td>' in page.text
    assert "<strong>Incomplete:</strong> 1 line(s) of the audit file" in page.text
