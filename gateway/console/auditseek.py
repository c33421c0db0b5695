"""Where a range of UTC days lies in the console's audit file: found by bisection over byte offsets (session 32).

The console appends the file's lines in time order: one process writes it, and it takes each line's time under the
lock that orders the appends (``AuditLog.write``). A wall clock stepped back breaks that order by as much as it
stepped; an operator's rotation starts a new file, read as it is. So the bisection only narrows where a read starts
and where it may stop, with :data:`SLACK` to spare: a page of a range reads backwards from the first line at least
:data:`SLACK` past the range's end (:func:`start_of`), and stops at the first line more than :data:`SLACK` before its
start; every line between is still read and filtered by the range, so a line out of order by less than
:data:`SLACK` is listed where it lies in the file. The first page of a range costs O(log size) reads of a few KiB
plus the page's own, wherever the range lies (before: up to 8 MiB a visit from the file's end, then "go on").
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass

from .auditquery import AuditFilter

SLACK = dt.timedelta(hours=1)
"""How far out of time order a line may be and still be found by a range: a clock stepped back by less."""
WINDOWS = (4096, 65536)
"""A probe reads this much at an offset to find the next whole line's time; more when no whole line was in it."""
MAX_PROBES = 200
"""A bound on the bisection's reads, whatever the file holds (log2 of any real file's size is under 64)."""
Pread = Callable[[int, int, int], bytes]


@dataclass(frozen=True, slots=True)
class Span:
    """What a range reads, as text comparable with an entry's ISO 8601 ``time``: a read starts at the first line at
    or past ``until`` and ends before the first line older than ``since`` (None: no bound there)."""

    until: str | None = None
    since: str | None = None


UNBOUNDED = Span()


def span(f: AuditFilter) -> Span:
    """The bounds of ``f``'s day range widened by :data:`SLACK`, for the file's reads; none at the calendar's ends
    (``to=9999-12-31``, ``from=0001-01-01``: nothing lies past them)."""
    end, until, since = f.at_most(), None, None
    with contextlib.suppress(ValueError, OverflowError):
        until = (dt.datetime.fromisoformat(end) + SLACK).isoformat() if end else None
    with contextlib.suppress(OverflowError):
        since = (dt.datetime.fromisoformat(f.day_from) - SLACK).isoformat() if f.day_from else None
    return Span(until, since)


def time_of(line: bytes) -> str | None:
    """A line's ``time`` as the console writes it (ISO 8601 text), or None: torn, not an entry, or no time."""
    try:
        found = json.loads(line)
    except (ValueError, RecursionError):
        return None
    value = found.get("time") if isinstance(found, dict) else None
    return value if isinstance(value, str) else None


def start_of(fd: int, size: int, until: str, pread: Pread = os.pread) -> tuple[int, int]:
    """The offset where a backwards read of lines older than ``until`` starts, and the probes it took: in a file in
    time order the start of its first line at or past ``until`` (``size`` when none is). The search keeps ``lo`` at
    the end of a line older than ``until`` and ``hi`` at the start of one that is not; a probe that finds no whole
    line with a time (a giant or unreadable stretch) ends it at ``hi``, which only makes the read longer."""
    lo, hi, probes = 0, size, 0
    while lo < hi and probes < MAX_PROBES:
        mid = (lo + hi) // 2
        probes += 1
        found = _probe(fd, mid, hi, until, pread) if mid > lo else None
        if found is None:  # no line with a time starts in [mid, hi): the one at lo decides
            probes += 1
            found = _probe(fd, lo, hi, until, pread, at_line=True)
            if found is None:
                break
        start, end, later = found
        if later:
            hi = start
        else:
            lo = end
    return hi, probes


def _probe(fd: int, at: int, hi: int, until: str, pread: Pread,
           at_line: bool = False) -> tuple[int, int, bool] | None:
    """The first whole line with a time that starts at or after ``at`` (``at_line``: ``at`` is a line's start)
    and before ``hi``: its start, its end (the next line's start) and whether its time is at or past ``until``."""
    base = at if at_line else at - 1  # the byte before: a newline there means a line starts at ``at``
    for window in WINDOWS:
        data = pread(fd, min(window, hi - base), base)
        pos = 0 if at_line else data.find(b"\n") + 1
        if pos > 0 or at_line:
            while (newline := data.find(b"\n", pos)) >= 0:
                found = time_of(data[pos:newline])
                if found is not None:
                    return base + pos, base + newline + 1, found >= until
                pos = newline + 1
        if base + len(data) >= hi:  # read up to hi: no line there has a time
            return None
    return None
