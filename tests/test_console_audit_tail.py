"""The audit page on a SQLite outbox reads the tail of ``console-audit.jsonl``, never the whole file.

The file only grows between an operator's rotations; reading all of it at each visit (as before session 28) grows
the page's bytes read and time with it. These tests fill a real file with 200,000 entries and measure the bytes the
page read (the process's ``rchar`` in ``/proc/self/io``: every read the kernel served) and the reader's peak memory,
then take the edge cases on small blocks: a line split over blocks, a line torn by a crash, a file truncated,
rotated, or shrunk while it is read.
"""

from __future__ import annotations

import json
import os
import re
import tracemalloc
from pathlib import Path

from console_helpers import local_console

from gateway.console.auditlog import AuditLog, tail

AUDITED = re.compile(r'<tr><td>[^<]+</td><td>(\w+)</td><td class="action">(\w+)</td><td>([^<]*)</td></tr>')
ENTRIES = 200_000


def rchar() -> int:
    """Bytes this process has read through the kernel so far (files, pipes: every read call)."""
    return int(re.search(rb"rchar: (\d+)", Path("/proc/self/io").read_bytes()).group(1))  # type: ignore[union-attr]


def fill(path: Path, count: int) -> None:
    """``count`` entries shaped as the console writes them (``view_payload`` of message i), in one write."""
    lines = (json.dumps({"action": "view_payload", "message_id": i, "time": "2026-12-07T06:00:00+00:00",
                         "user": "otto"}, sort_keys=True) for i in range(count))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def ids(entries: list[dict[str, object]]) -> list[object]:
    return [e.get("message_id", e["action"]) for e in entries]


def test_the_audit_page_reads_the_newest_200_of_200000_entries_from_the_end(tmp_path: Path) -> None:
    local = local_console(tmp_path)
    audit = local.db.parent / "console-audit.jsonl"
    fill(audit, ENTRIES)
    otto = local.login("otto")
    assert otto.get("/console/audit").status_code == 200  # templates compiled, session row cached: not measured
    before = rchar()
    page = otto.get("/console/audit")
    read = rchar() - before
    assert page.status_code == 200
    rows = AUDITED.findall(page.text)
    assert rows[:2] == [("otto", "login", ""), ("otto", "view_payload", f"message_id={ENTRIES - 1}")]
    assert [r[2] for r in rows[1:]] == [f"message_id={i}" for i in range(ENTRIES - 1, ENTRIES - 200, -1)]
    size = audit.stat().st_size
    assert size > 18_000_000
    assert read < 512 * 1024, f"the page read {read} bytes of a {size}-byte file"  # one 64 KiB block, plus the page
    tracemalloc.start()
    found = tail(audit, 200)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ids(found.entries)[:3] == ["login", ENTRIES - 1, ENTRIES - 2] and len(found.entries) == 200
    assert found.bytes_read == 64 * 1024 and found.skipped == 0
    assert peak < 1024 * 1024, f"peak {peak} bytes"


def test_lines_split_over_blocks_come_back_whole_in_order(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    fill(audit, 50)
    for block in (1, 7, 64, 1000):  # a line split over two blocks, or over many
        found = tail(audit, 20, block=block)
        assert ids(found.entries) == list(range(49, 29, -1)) and found.skipped == 0
    everything = tail(audit, 200, block=7)
    assert ids(everything.entries) == list(range(49, -1, -1)) and everything.bytes_read == audit.stat().st_size


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_entry_starts_its_own_line(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    fill(audit, 3)
    with audit.open("ab") as out:
        out.write(b'{"action": "purge", "deli')  # the process died mid-write
    found = tail(audit, 200, block=8)
    assert ids(found.entries) == [2, 1, 0] and found.skipped == 1
    AuditLog(audit).write("otto", "replay", delivery_id=7)
    found = tail(audit, 200, block=8)
    assert ids(found.entries) == ["replay", 2, 1, 0] and found.skipped == 1
    assert audit.read_bytes().endswith(b'"deli\n{"action": "replay", "delivery_id": 7, "time": "' +
                                       found.entries[0]["time"].encode() + b'", "user": "otto"}\n')


def test_a_truncated_or_rotated_file_is_read_as_it_is_now(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    fill(audit, 10)
    whole = audit.read_bytes()
    audit.write_bytes(whole[len(whole) // 2 + 3:])  # cut mid-line at the start (copy-and-truncate gone wrong)
    found = tail(audit, 200, block=16)
    assert ids(found.entries) == [9, 8, 7, 6] and found.skipped == 1
    os.truncate(audit, 0)
    assert tail(audit, 200).entries == []
    AuditLog(audit).write("otto", "login")
    assert ids(tail(audit, 200).entries) == ["login"]
    audit.rename(tmp_path / "a.jsonl.1")  # rotated: no file until the next entry
    assert tail(audit, 200).entries == []
    AuditLog(audit).write("vera", "logout")
    assert ids(tail(audit, 200).entries) == ["logout"]


def test_a_file_that_shrinks_while_it_is_read_is_read_again_from_its_new_end(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    fill(audit, 100)
    keep = len(b"".join(audit.read_bytes().splitlines(keepends=True)[:5]))
    calls = []

    def truncated_after_first_read(fd: int, size: int, offset: int) -> bytes:
        calls.append(offset)
        data = os.pread(fd, size, offset)
        if len(calls) == 1:
            os.truncate(audit, keep)  # an operator's truncation between two blocks
        return data

    found = tail(audit, 200, block=256, pread=truncated_after_first_read)
    assert ids(found.entries) == [4, 3, 2, 1, 0] and found.skipped == 0


def test_the_bytes_read_stop_at_the_budget_whatever_the_file_holds(tmp_path: Path) -> None:
    audit = tmp_path / "a.jsonl"
    audit.write_bytes(b"x" * 300_000 + b"\n" + b"not json\n" * 50_000)
    found = tail(audit, 200, block=4096, budget=100_000)
    assert found.entries == [] and found.bytes_read == 100_000 and found.skipped > 10_000
