"""The Audit page's day range on a big SQLite audit file: found by bisection, not read to from the end (session 32).

Before, a range (``from``, ``to``) was answered by reading ``console-audit.jsonl`` backwards from its end, 8 MiB a
visit, with "go on" links: a range in last month on a big file took many visits. Now the range's newest page starts
where a bisection over byte offsets finds the range's end (gateway/console/auditseek.py) and stops at its start. The
files are real and in the console's own line format (a 70 MB one for the console); the console is the real one
(Starlette's test client); the bytes read are the process's ``rchar``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from console_helpers import local_console
from test_console_audit_tail import rchar

from gateway.console import auditlog
from gateway.console.auditlog import AuditLog
from gateway.console.auditseek import SLACK, start_of

ROW = re.compile(r'<tr><td>([^<]+)</td><td>([^<]*)</td><td class="action">([^<]*)</td><td>([^<]*)</td></tr>')
LINK = re.compile(r'<a href="([^"]+)" rel="(?:next|prev)">(Older|Newer|Go on reading older entries)</a>')
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=100)
"""One entry every 100 s, 864 a day; the big file's 700,000 (~70 MB) span 2023-01-01 to 2025-03-21."""
DAY = 864
BIG = 700_000


def line(i: int, when: dt.datetime) -> str:
    """Entry ``i`` as the console writes it (``json.dumps(..., sort_keys=True)``): a payload viewed."""
    return json.dumps({"action": "view_payload", "message_id": i, "time": when.isoformat(timespec="seconds"),
                       "user": "anna" if i % 3 else "ben"}, sort_keys=True) + "\n"


def stamp(i: int) -> str:
    return (START + i * STEP).isoformat(timespec="seconds")


def times(path: Path) -> list[str]:
    return [json.loads(raw)["time"] for raw in path.read_bytes().splitlines() if raw.strip()]


def exact(path: Path, until: str) -> int:
    """The start of the first line at or past ``until`` (the file's size when none), counted line by line."""
    offset = 0
    for raw in path.read_bytes().splitlines(keepends=True):
        if json.loads(raw)["time"] >= until:
            return offset
        offset += len(raw)
    return offset


def seek(path: Path, until: str) -> tuple[int, int]:
    with path.open("rb") as f:
        return start_of(f.fileno(), os.fstat(f.fileno()).st_size, until)


def test_the_bisection_finds_the_first_line_at_or_past_every_bound(tmp_path: Path) -> None:
    """Exactly, in a file in time order with runs of equal times and lines of every length, for a bound before each
    line, at each line's time, between two and after the last; within a handful of reads per doubling."""
    path = tmp_path / "audit.jsonl"
    whens = [START + dt.timedelta(seconds=7 * (i // 3)) for i in range(300)]  # three entries a second each time
    path.write_text("".join(line(i * 10 ** (i % 7), w) for i, w in enumerate(whens)))
    bounds = sorted({w.isoformat(timespec="seconds") for w in whens} | {"2022-12-31", "2023-01-01T00:00:01",
                                                                         "2023-01-01T00:03:31", "2024-01-01"})
    for until in bounds:
        offset, probes = seek(path, until)
        assert offset == exact(path, until), until
        assert probes <= 2 * 9 + 2, (until, probes)  # 300 lines: log2 < 9, each step at most two reads
    assert seek(path, "2022-12-31")[0] == 0 and seek(path, "2024-01-01")[0] == len(path.read_bytes())


def test_hostile_files_bisect_to_a_safe_start(tmp_path: Path) -> None:
    """An empty file, one line, a torn last line, garbage and a line of 200 KiB (longer than a probe's reads): the
    start is the exact one, or later (a longer read that the page still filters), never earlier."""
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"")
    assert seek(path, "2023-01-02") == (0, 0)
    one = line(1, START).encode()
    path.write_bytes(one)
    assert seek(path, "2022-12-31")[0] == 0 and seek(path, "2023-01-02")[0] == len(one)
    body = "".join(line(i, START + i * STEP) for i in range(2000)).encode()
    path.write_bytes(body + b'{"action": "login", "time": "2023-01-0')  # torn by a crash mid-write
    until = (START + 1000 * STEP).isoformat(timespec="seconds")
    assert seek(path, until)[0] == exact(_whole(path, tmp_path), until)
    giant = json.dumps({"action": "reconvert", "message_ids": ",".join(map(str, range(40_000))),
                        "time": (START + 1000 * STEP).isoformat(timespec="seconds"), "user": "anna"}).encode()
    path.write_bytes(body[:len(body) // 2] + b"\xff\xfe not json\n" * 50 + giant + b"\n" + body[len(body) // 2:])
    for step in (10, 999, 1000, 1001, 1500):
        until = (START + step * STEP).isoformat(timespec="seconds")
        assert seek(path, until)[0] >= exact_lenient(path, until), step
    path.write_bytes(b"\x00" * 300_000)  # no line at all
    assert seek(path, "2023-01-02")[0] == 300_000


def _whole(path: Path, tmp_path: Path) -> Path:
    """The file's whole lines alone (a copy), for :func:`exact`."""
    copy = tmp_path / "whole.jsonl"
    copy.write_bytes(path.read_bytes().rsplit(b"\n", 1)[0] + b"\n")
    return copy


def exact_lenient(path: Path, until: str) -> int:
    """:func:`exact` over a file with lines that are no entry (skipped)."""
    offset = 0
    for raw in path.read_bytes().splitlines(keepends=True):
        try:
            when = json.loads(raw).get("time")
        except ValueError:
            when = None
        if isinstance(when, str) and when >= until:
            return offset
        offset += len(raw)
    return offset


def shown(client: Any, address: str = "/console/audit", **params: str) -> tuple[list[tuple[str, ...]], dict[str, str],
                                                                                   str]:
    page = client.get(address, params=params or None)
    assert page.status_code == 200, page.text[-800:]
    return ROW.findall(page.text), {name: html.unescape(href) for href, name in LINK.findall(page.text)}, page.text


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 70 MB audit file of 700,000 entries in time order, the console's lines (written once for the module)."""
    path = tmp_path_factory.mktemp("big") / "console-audit.jsonl"
    shape = '{"action": "view_payload", "message_id": %d, "time": "%s", "user": "%s"}\n'
    assert shape % (4, stamp(4), "anna") == line(4, START + 4 * STEP)  # the console's own format, written faster
    with path.open("w", encoding="utf-8") as out:
        for first in range(0, BIG, 50_000):
            out.write("".join(shape % (i, stamp(i), "anna" if i % 3 else "ben") for i in range(first, first + 50_000)))
    return path


def console_over(tmp_path: Path, audit: Path) -> Any:
    """A console whose audit file is a copy of ``audit`` (its logins are appended to the copy)."""
    local = local_console(tmp_path)
    shutil.copyfile(audit, local.db.parent / "console-audit.jsonl")
    return local


def test_a_range_in_the_first_tenth_of_70_mb_is_found_in_one_visit_and_paged_through_once(
        tmp_path: Path, big: Path) -> None:
    """2023-01-05 (entries 3,456 to 4,319 of 700,000, 3.4 MB into a 70 MB file): the first page is its newest 200
    in one visit that reads under 256 KiB (before: 8 MiB a visit from the end, nine visits of nothing); Older walks
    its 864 entries once, newest first, and ends at its start (no "go on"); Newer walks back to the first page."""
    size = big.stat().st_size
    assert size > 65_000_000
    otto = console_over(tmp_path, big).login("otto")
    shown(otto, to="2023-01-01")  # templates compiled, the session cached: not measured
    read = rchar()
    rows, links, text = shown(otto, **{"from": "2023-01-05", "to": "2023-01-05"})
    read = rchar() - read
    first, last = 4 * DAY, 5 * DAY - 1  # the day's entries
    assert [r[3] for r in rows] == [f"message_id={i}" for i in range(last, last - 200, -1)]
    assert rows[0][0] == stamp(last) == "2023-01-05T23:58:20+00:00"
    assert "Go on reading" not in text and "were read" not in text and "Newer" not in links
    assert read < 256 * 1024, f"the first page read {read} bytes of a {size}-byte file"
    pages = [rows]
    while "Older" in links:
        assert len(pages) < 10, "Older led on past the range"
        rows, links, text = shown(otto, "/console/audit" + links["Older"])
        pages.append(rows)
        assert "Go on reading" not in text
    walked = [int(r[3].split("=")[1]) for p in pages for r in p]
    assert walked == list(range(last, first - 1, -1))  # every entry of the day once, and no other
    back = [rows]
    while "Newer" in links:
        assert len(back) < 10
        rows, links, _ = shown(otto, "/console/audit" + links["Newer"])
        back.append(rows)
    assert back[::-1] == pages


def test_edges_of_a_range_on_the_big_file(tmp_path: Path, big: Path) -> None:
    """Before the first line and after the last: no entries, no "go on", within a few reads, not 8 MiB; a range's
    end alone (``to``) lists its newest 200 and goes on older; ``from`` alone stops at the range's start."""
    otto = console_over(tmp_path, big).login("otto")
    shown(otto, to="2023-01-01")
    # before the first line; in the gap between the last generated line and otto's login of today; after both
    for query in ({"to": "2022-12-31"}, {"from": "2025-06-01", "to": "2025-06-02"}, {"from": "2030-01-01"}):
        read = rchar()
        rows, links, text = shown(otto, **query)
        assert rchar() - read < 256 * 1024, query
        assert rows == [] and links == {} and "No entries match." in text and "were read" not in text, query
    rows, links, _ = shown(otto, to="2023-01-02")  # an end alone: the newest 200 up to it, and Older
    assert [r[3] for r in rows] == [f"message_id={i}" for i in range(2 * DAY - 1, 2 * DAY - 201, -1)]
    assert "Older" in links
    rows, links, text = shown(otto, **{"from": "2025-03-21"})  # a start alone: the file's last day and the login
    last_day = [i for i in range(BIG - 1, BIG - DAY, -1) if stamp(i) >= "2025-03-21"]
    assert rows[0][2] == "login" and [r[3] for r in rows[1:]] == [f"message_id={i}" for i in last_day]
    assert links == {} and "were read" not in text


def test_the_calendars_first_and_last_day_are_a_range_like_any(tmp_path: Path) -> None:
    """``to=9999-12-31`` has no day after, ``from=0001-01-01`` no hour before: an OverflowError and a 503 (the last
    day, before session 32, on both stores; the first day with the range's slack), now every entry."""
    local = local_console(tmp_path)
    (local.db.parent / "console-audit.jsonl").write_text(line(1, START) + line(2, START + STEP))
    otto = local.login("otto")
    for query in ({"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "0001-01-01", "to": "9999-12-31"}):
        assert [r[3] for r in shown(otto, **query)[0]] == ["", "message_id=2", "message_id=1"], query  # and login
    assert [r[3] for r in shown(otto, **{"from": "0001-01-01", "to": "2023-01-01"})[0]] == ["message_id=2",
                                                                                          "message_id=1"]


def test_a_line_out_of_order_is_found_within_the_slack_and_a_rotated_file_read_as_it_is(tmp_path: Path) -> None:
    """The file's lines are in time order unless the clock stepped back. A range lists a line out of order by less
    than an hour (SLACK) wherever it lies: one written after the range's end, 40 minutes behind the line before it,
    and one before the range's start that the lines after it are 40 minutes behind. One more than an hour out of
    order, written past where the range's read starts, is not listed by the range; the search by its id lists it.
    A file rotated under the console: the new one is searched as it is."""
    local = local_console(tmp_path)
    audit = local.db.parent / "console-audit.jsonl"
    body = [line(i, START + i * STEP) for i in range(5000)]
    assert dt.timedelta(hours=1) == SLACK
    at = {stamp(i): i for i in range(5000)}
    for where, number, when in sorted([
            ("2023-01-04T00:00:00+00:00", 900_002, "2023-01-02T12:00:00"),  # 12 h behind, past the read's start
            ("2023-01-03T00:20:00+00:00", 900_001, "2023-01-02T23:40:00"),  # 40 min behind, after the range's end
            ("2023-01-01T23:30:00+00:00", 900_003, "2023-01-02T00:10:00")], reverse=True):  # ahead, before its start
        body.insert(at[where], line(number, dt.datetime.fromisoformat(when + "+00:00")))
    audit.write_text("".join(body))
    otto = local.login("otto")
    rows, links, _ = shown(otto, **{"from": "2023-01-02", "to": "2023-01-02"})
    listed = [r[3] for r in rows]
    while "Older" in links:
        rows, links, _ = shown(otto, "/console/audit" + links["Older"])
        listed += [r[3] for r in rows]
    assert listed == [f"message_id={i}" for i in (900_001, *range(2 * DAY - 1, DAY - 1, -1), 900_003)]
    assert [r[3] for r in shown(otto, id="900002")[0]] == ["message_id=900002"]
    audit.rename(audit.with_suffix(".jsonl.1"))  # rotated: the console's next line starts a new file
    audit.write_text(line(7, START + dt.timedelta(days=40)) + line(8, START + dt.timedelta(days=41)))
    assert [r[3] for r in shown(otto, **{"from": "2023-02-10", "to": "2023-02-10"})[0]] == ["message_id=7"]
    assert shown(otto, **{"from": "2023-01-02", "to": "2023-01-02"})[0] == []


class HandOver:
    """A lock that lets its holders in the reverse of their arrival: the second writer of two that wait writes first."""

    def __init__(self) -> None:
        self.arrived: list[threading.Event] = []
        self.changed = threading.Condition()
        self.inner = threading.Lock()

    def __enter__(self) -> None:
        turn = threading.Event()
        with self.changed:
            self.arrived.append(turn)
            self.changed.notify_all()
        assert turn.wait(30)
        self.inner.acquire()

    def __exit__(self, *exc: object) -> None:
        self.inner.release()

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.arrived) >= count, 30)


def test_lines_are_written_in_time_order_when_writers_wait_for_the_lock(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Two requests write at once, and the one that came second gets the lock first: each line's time is taken
    under the lock, so the file stays in time order (taken before it, the older time was written after the newer,
    out of the bisection's order)."""
    clock = iter(f"2026-12-07T10:00:{s:02d}+00:00" for s in range(60))
    monkeypatch.setattr(auditlog, "now", lambda: next(clock))
    log = AuditLog(tmp_path / "console-audit.jsonl")
    lock = HandOver()
    log.lock = lock  # type: ignore[assignment]
    first = threading.Thread(target=log.write, args=("anna", "login"))
    first.start()
    lock.wait_for(1)
    second = threading.Thread(target=log.write, args=("ben", "login"))
    second.start()
    lock.wait_for(2)
    lock.arrived[1].set()  # the second in first
    second.join(30)
    lock.arrived[0].set()
    first.join(30)
    written = [json.loads(raw) for raw in log.path.read_bytes().splitlines()]
    assert [e["user"] for e in written] == ["ben", "anna"]
    assert times(log.path) == sorted(times(log.path)), written
