"""``overstap console import-audit`` against hostile audit files (session 29's review): every line that cannot be an
entry, or holds what PostgreSQL refuses, is named by its number and the rest imported; nothing of a line is echoed.

Why: the import reads a file an operator names (an old replica's ``console-audit.jsonl``, a copy from a backup) in
one transaction. Before this review a line nested 100,000 deep, a ``\\u0000`` or a lone surrogate, ``NaN`` ended it
with a traceback (PostgreSQL's own message quotes the JSON around the offence), and a line without a newline was read
whole into memory, however long. Real files, a real PostgreSQL server, the real CLI.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import console_helpers
import pg_helpers
import pytest
from console_helpers import local_console

from gateway.console import auditimport

server = pg_helpers.server
AT = "2026-11-30T09:00:00+00:00"
BSN_LIKE = "123456782"


def line(user: object = "anna", action: object = "view_payload", time: object = AT, **ids: object) -> bytes:
    return json.dumps({"time": time, "user": user, "action": action, **ids}, sort_keys=True).encode()


run = console_helpers.import_audit


def test_hostile_lines_are_named_by_number_the_rest_imported_nothing_echoed(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = pg_helpers.database_for(server, request, "imh")
    local = local_console(tmp_path / "now", store=url)
    deep = (b'{"action": "x", "d": ' + b"[" * 100_000 + b"]" * 100_000
            + b', "time": "' + AT.encode() + b'", "user": "a"}')
    lines = [
        line(message_id=1),                                    # 1: imported
        deep,                                                  # 2: nested 100,000 deep: no entry
        line(user="an\x00na"),                                 # 3: a NUL in the account: PostgreSQL's text refuses it
        line(message_id=2, note="x\x00y"),                     # 4: a NUL in the details: jsonb refuses it
        line(message_id=3).replace(b": 3", b": NaN"),          # 5: NaN: no JSON PostgreSQL reads
        line(message_id=4).replace(b": 4", b": 1e999"),          # 6: infinity, likewise
        line(user="an\ud800na"),                               # 7: a lone surrogate: not UTF-8
        line(user=["anna"]),                                   # 8: an account that is a list: no entry
        line(time=5),                                          # 9: a time that is a number: no entry
        line(note="ok").replace(b"ok", b"\xff\xfe"),           # 10: not UTF-8: no entry
        line(message_id=5).replace(b": 5", b": " + b"9" * 5000),  # 11: beyond Python's int digits: no entry
        line(note="p" * auditimport.LINE),                     # 12: over the line bound
        line(message_id=6, bsn=BSN_LIKE, name="Jansen"),       # 13: imported, nothing of it echoed
        line(message_id=7, note="literal \\u0000 text"),        # 14: a backslash before u0000: text, imported
        line(message_id=8),                                    # 15: imported
    ]
    audit = tmp_path / "old.jsonl"
    audit.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = run("--file", str(audit), "--store", url)
    assert code == 0, out + err
    assert "imported 4 entries into" in out, out
    assert "5 line(s) not imported, no entry (torn by a crash mid-write, cut, or a time not ISO 8601): " \
           "line 2, 8, 9, 10, 11" in err, err
    assert "6 line(s) not imported, longer than 1 MiB or a value PostgreSQL cannot hold (a NUL character, a lone " \
           "surrogate, NaN or Infinity): line 3, 4, 5, 6, 7, 12" in err, err
    for secret in (BSN_LIKE, "Jansen", "anna", "Traceback", "\\u0000"):
        assert secret not in out + err, secret
    assert local.sql("SELECT details->>'message_id' FROM console_audit WHERE account = 'anna' "
                     "ORDER BY (details->>'message_id')::int") == [("1",), ("6",), ("7",), ("8",)]
    environ = tmp_path / "environ.jsonl"  # a link to what a file must never show: read as lines, named by number
    environ.symlink_to("/proc/self/environ")
    code, out, err = run("--file", str(environ), "--store", url)
    assert code == 0 and "imported 0 entries" in out and "): line 1\n" in err, out + err
    assert "PATH" not in out + err and "=" not in err


def test_a_line_without_a_newline_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A file of one 24 MiB line (a disk image named by mistake, /dev/zero copied out): the import holds at most
    the line bound of it, names the line and goes on."""
    big = tmp_path / "one-line.jsonl"
    with big.open("wb") as out:
        out.write(b'{"time": "' + AT.encode() + b'", "user": "a", "action": "x", "pad": "')
        for _ in range(24):
            out.write(b"p" * (1 << 20))
        out.write(b'"}\n' + line(message_id=9))
    unread, refused = auditimport.Lines(), auditimport.Lines()
    tracemalloc.start()
    try:
        got = list(auditimport.rows(big, unread, refused))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(r["account"], r["action"]) for _, r in got] == [("anna", "view_payload")]
    assert unread.count == 0 and refused.first == [1]
    assert peak < 8 * auditimport.LINE, peak  # read whole, the line alone held 24 MiB


def test_a_device_or_a_fifo_as_the_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """/dev/zero would be read forever, a FIFO would wait for a writer: neither is a file, neither is opened."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        code, _, err = run("--file", path, "--store", "postgresql://127.0.0.1:1/x")
        assert code == 2 and f"no audit file at {path}" in err, err


def test_a_fifo_swapped_in_after_the_check_is_refused_by_the_reader_not_waited_on(tmp_path: Path) -> None:
    """The CLI's ``is_file`` check and the open are two steps: the reader checks the descriptor it opened (without
    waiting for a writer), so a FIFO in the file's place by then is an error, not an import that hangs."""
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        next(auditimport.lines_of(fifo))


def test_the_memory_held_per_line_is_its_digest_not_the_line(tmp_path: Path) -> None:
    """Each line's occurrence among identical lines is counted by its digest: 20,000 distinct lines of 1 KB held
    about 20 MB as the lines themselves (a file of 10 million, gigabytes), now about 2 MB."""
    many = tmp_path / "many.jsonl"
    many.write_bytes(b"".join(line(message_id=i, pad="p" * 1000) + b"\n" for i in range(20_000)))
    tracemalloc.start()
    try:
        count = sum(1 for _ in auditimport.rows(many, auditimport.Lines(), auditimport.Lines()))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000 and peak < 6_000_000, peak


def test_lines_that_are_no_entry_are_counted_the_first_twenty_named(tmp_path: Path) -> None:
    """Another log named by mistake, every line no entry: a count and the first 20 numbers held, not a list of all
    (100,000 lines: about 3.6 MB; a log of 10 million, 360 MB)."""
    garbage = tmp_path / "other.log"
    garbage.write_bytes(b"x\n" * 100_000)
    unread = auditimport.Lines()
    tracemalloc.start()
    try:
        assert list(auditimport.rows(garbage, unread, auditimport.Lines())) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert unread.count == 100_000 and unread.first == list(range(1, 21)) and peak < 1_000_000, peak
