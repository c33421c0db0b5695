"""The console's audit log: a JSON-lines file in data_dir, or on a PostgreSQL store the store's ``console_audit``.

The file only grows (an operator rotates or truncates it), so the audit page reads it from the end, block by block,
and stops once it holds the newest entries it shows: the bytes read and the memory held are bounded by those
entries, not by the file (before session 28 each visit read the whole file). A line torn by a crash mid-write is
skipped, and the next entry starts on a line of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .auditquery import AuditFilter
from .auditseek import UNBOUNDED, Span, span, start_of
from .params import BadParameter

BLOCK = 64 * 1024
"""Read from the file's end this much at a time: about 400 entries of a typical 150 bytes."""
BUDGET = 8 * 1024 * 1024
"""At most this many bytes per visit, whatever the file holds (a file of unreadable lines, one giant line)."""
Pread = Callable[[int, int, int], bytes]


class Shrunk(Exception):
    """The file became shorter while it was read (truncated or copied-and-truncated by an operator)."""


@dataclass(slots=True)
class Tail:
    """The newest entries of the file, newest first, with what reading them cost."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0
    skipped: int = 0
    """Lines that were no entry: torn by a crash mid-write, or cut at the start by a truncation."""
    cut: bool = False
    """The budget stopped the reading before the file's start and before ``limit`` entries: older ones are unread."""
    sources: list[str | None] = field(default_factory=list)
    """On PostgreSQL each entry's ``console_audit.source``, in the same order: the replica whose old file it was
    imported from (session 30), None for an entry the console wrote. Empty for the file, which has no source; kept
    apart from the entry, whose keys are an imported line's and may be any."""
    older: int | None = None
    """The cursor of the page of older entries (``before=``), None when there are none (both stores read one match
    past the page to know): on the file a byte offset (a line's start), on PostgreSQL the oldest shown entry's id."""
    newer: int | None = None
    """The cursor of the page of newer entries (``after=``), None on the newest page."""
    cut_newer: bool = False
    """Read forwards (the Newer link), the budget stopped before ``limit`` entries: newer ones are unread."""
    probes: int = 0
    """Reads the bisection to a range's end took (:func:`gateway.console.auditseek.start_of`); 0 without one."""


def lines_backwards(fd: int, end: int, block: int, budget: int, pread: Pread) -> Iterator[tuple[bytes, int, int]]:
    """The file's lines from ``end`` back to its start, each with the bytes read so far and the offset it starts at:
    first what follows the last newline (empty unless torn), then each whole line. A line split over two blocks is
    carried to the next read."""
    floor = max(0, end - budget)  # never read before this offset, whatever the file holds
    pos, carry = end, b""
    while pos > floor:
        size = min(block, pos - floor)
        pos -= size
        chunk = pread(fd, size, pos)
        if len(chunk) != size:
            raise Shrunk
        parts = (chunk + carry).split(b"\n")
        start = pos + size + len(carry)  # where the last part ends: each line's start counted back from there
        carry = parts[0]
        for line in reversed(parts[1:]):
            start -= len(line)
            yield line, end - pos, start
            start -= 1
    if pos == 0:
        yield carry, end, 0


def lines_forwards(fd: int, begin: int, end: int, block: int, pread: Pread) -> Iterator[tuple[bytes, int]]:
    """The whole lines from ``begin`` (a line's start) up to ``end``, oldest first, each with the offset it starts
    at; what follows the last newline before ``end`` (a line cut by the budget, or being written now) is not one."""
    pos, carry, start = begin, b"", begin
    while pos < end:
        size = min(block, end - pos)
        chunk = pread(fd, size, pos)
        if len(chunk) < size:  # truncated while read: the offsets of the page's links name other lines now
            raise Shrunk
        pos += size
        parts = (carry + chunk).split(b"\n")
        carry = parts.pop()
        for line in parts:
            yield line, start
            start += len(line) + 1


def entry(line: bytes) -> dict[str, Any] | None:
    """One line as an entry, or None when it is not one (torn, cut, not an object, or nested deeper than Python's
    JSON reader goes: ``[[[...`` 100,000 deep raises RecursionError, which would fail the audit page and the import)."""
    try:
        found = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


Wanted = Callable[[dict[str, Any]], bool]


def tail(path: Path, limit: int, block: int = BLOCK, budget: int = BUDGET, pread: Pread = os.pread,
         wanted: Wanted | None = None, before: int | None = None, bounds: Span = UNBOUNDED) -> Tail:
    """The newest ``limit`` entries of the file at ``path`` (those ``wanted``, and starting before the offset
    ``before``), newest first; a file that shrinks while it is read is read again from its new end (at most three
    times, then what was read). ``older`` is where the next page goes on: the oldest shown entry's start when the
    read, going on past a full page, found one match more (without it a range or a search of exactly 200 offered an
    Older page of nothing, before session 33); where the budget stopped; None when the file's (or the range's)
    start came first. ``bounds``: without ``before`` the read starts where
    the bisection finds ``until`` (:mod:`gateway.console.auditseek`), and a line older than ``since`` ends it."""
    found = Tail()
    for _attempt in range(3):
        found = Tail()
        try:
            with path.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if before is not None:
                    size = within(before, size, "before")
                    found.newer = before  # the lines from there on: all newer than this page's
                elif bounds.until is not None:  # the range's newest page: no line from there on is in the range
                    size, found.probes = start_of(f.fileno(), size, bounds.until, pread)
                oldest = last = size  # where the oldest line read starts; where the oldest entry listed does
                skipped_then = 0  # the lines that were no entry up to the oldest entry listed
                for line, read, start in lines_backwards(f.fileno(), size, block, budget, pread):
                    found.bytes_read, oldest = read, start
                    if not line.strip():
                        continue
                    parsed = entry(line)  # None for a line torn mid-write (or cut at the start by a truncation)
                    if parsed is None:
                        found.skipped += 1
                        continue
                    if passed(parsed, bounds.since):  # the range's start is behind: no older line is in it
                        return found
                    if wanted is not None and not wanted(parsed):
                        continue
                    if len(found.entries) == limit:  # one match past a full page: the older page lists it
                        found.older, found.skipped = last, skipped_then  # and says the lines between
                        return found
                    found.entries.append(parsed)
                    last, skipped_then = start, found.skipped
                found.cut = size > budget and len(found.entries) < limit  # older entries left unread
                if size > budget:  # the budget, not the file's start, ended the read: on from the oldest line read
                    found.older = oldest if oldest < size else size - budget  # whole; past a line over the budget
            return found
        except FileNotFoundError:
            if before is not None:  # rotated away since the link was made: its offsets name nothing now
                raise BadParameter("before: expected a position in the audit file, which is gone now (rotated "
                                   "since that link was made): start again from the newest entries") from None
            return Tail()
        except Shrunk:
            continue
    return found


def passed(parsed: dict[str, Any], since: str | None) -> bool:
    """Whether an entry is older than ``since`` (a range's start less the slack): read backwards, the read ends."""
    time = parsed.get("time")
    return since is not None and isinstance(time, str) and time < since


def within(offset: int, size: int, name: str) -> int:
    """A cursor into the file, refused (a 400) when the file no longer reaches it: rotated or truncated since."""
    if offset > size:
        raise BadParameter(f"{name}: expected a position in the audit file, which is shorter now (rotated or "
                           "truncated since that link was made): start again from the newest entries")
    return offset


def head(path: Path, limit: int, after: int, wanted: Wanted | None = None, block: int = BLOCK,
         budget: int = BUDGET, pread: Pread = os.pread, until: str | None = None) -> Tail | None:
    """The oldest ``limit`` entries ``wanted`` that start at or after the offset ``after``, newest first (the page
    of the Newer link): read forwards, at most ``budget`` bytes. None when the file's end came first with fewer:
    those are the newest entries, and the newest page (read from the end) shows them and the ones before. With
    ``until`` (a range's end) the read stops where the bisection finds it, as if the file ended there, and reads on
    past a full page to one more match (PostgreSQL's one row past the page): without one, it is the newest page."""
    found = Tail(older=after or None)  # nothing starts before the file's start
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if until is not None and after <= size:  # past the range's end no line is in it: read up to there
            size = max(after, start_of(f.fileno(), size, until, pread)[0])
        end = min(within(after, size, "after") + budget, size)
        for line, start in lines_forwards(f.fileno(), after, end, block, pread):
            found.bytes_read = start + len(line) + 1 - after
            if not line.strip():
                continue
            parsed = entry(line)
            if parsed is None:
                found.skipped += 1
            elif wanted is None or wanted(parsed):
                if found.newer is not None:  # one match past a range's page: there is a newer page
                    break
                found.entries.append(parsed)
                if len(found.entries) == limit:
                    found.newer = start + len(line) + 1
                    if until is None:
                        break
        else:  # read on to a range's end past the page and found no match: the range's newest page, as below
            if found.newer is not None and end == size:
                found.newer = size
        if found.newer == size or (found.newer is None and end == size):
            return None
        if found.newer is None:  # the budget stopped it: newer entries from the first line not read whole
            found.cut_newer, found.newer = True, after + found.bytes_read if found.bytes_read else end
    found.entries.reverse()
    return found


class AuditLog:
    """Appends one JSON line per audited view or action; a lock keeps lines whole when requests run in threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def write(self, user: str, action: str, **ids: int | str | None) -> None:
        """Append one entry. Its time is taken under the lock, so the lines are in time order (the Audit page's range
        search bisects on that, gateway/console/auditseek.py): taken before it, a request that waited for the lock
        wrote an older time after a newer one."""
        with self.lock:
            line = json.dumps({"time": now(), "user": user, "action": action, **ids}, sort_keys=True).encode()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as out:  # readable too: whether the last line is whole
                out.write(line + b"\n" if whole(out.fileno()) else b"\n" + line + b"\n")

    def recent(self, limit: int) -> Tail:
        """The newest ``limit`` entries, newest first, with the lines that could not be read."""
        return self.page(AuditFilter(), limit)

    def page(self, f: AuditFilter, limit: int) -> Tail:
        """A page of the audit page: ``limit`` entries that ``f`` lets through, newest first, from its cursor (the
        newest when none). Raises ``OSError`` when the file is there but cannot be read (a directory in its place,
        its permissions), :class:`BadParameter` for a cursor past the file's end."""
        wanted = f.matches if f.filtered else None
        bounds = span(f)
        if f.after is not None:
            try:
                found = head(self.path, limit, f.after, wanted, until=bounds.until)
            except (FileNotFoundError, Shrunk):
                raise BadParameter("after: expected a position in the audit file, which is gone or shorter now "
                                   "(rotated or truncated since): start again from the newest entries") from None
            if found is not None:
                return found
        return tail(self.path, limit, wanted=wanted, before=f.before, bounds=bounds)


def whole(fd: int) -> bool:
    """Whether the file ends with a newline (or is empty): after a crash mid-write it does not, and the next entry
    must start a line of its own, or the torn line would swallow it."""
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class PgAuditLog(AuditLog):
    """The audit in the PostgreSQL store's ``console_audit`` (schema 0010): every replica writes and reads one log,
    so a replay through one replica is seen through any other. One insert per entry, on a pooled writing
    connection of the console's source (no store write lock). The entries are the file's, field for field."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def write(self, user: str, action: str, **ids: int | str | None) -> None:
        with self.source.writing() as conn:
            conn.execute("INSERT INTO console_audit (at, account, action, details) VALUES (?, ?, ?, ?::jsonb)",
                         (now(), user, action, json.dumps(ids, sort_keys=True)))

    def page(self, f: AuditFilter, limit: int) -> Tail:
        """As the file's, on ``console_audit`` by time (``at``, then id: imported entries get new ids), keyset-paged:
        the filters' conditions are fixed text, every value bound. One row past ``limit`` tells whether there is
        more; an id as cursor that is no entry (any more) is refused, not read as "nothing older"."""
        cursor = f.after if f.after is not None else f.before
        with self.source.writing() as conn:
            at = None
            if cursor is not None:
                at = conn.execute("SELECT at FROM console_audit WHERE id = ?", (cursor,)).fetchone()
                if at is None:
                    name = "after" if f.after is not None else "before"
                    raise BadParameter(f"{name}: expected the number of an entry of the audit log, and there is no "
                                       "such entry (any more): start again from the newest entries")
            rows = conn.execute(*select(f, at and at["at"], limit)).fetchall()
        if f.after is not None and len(rows) <= limit:  # these are the newest: the newest page shows them, and more
            return self.page(replace(f, after=None), limit)
        more, rows = len(rows) > limit, rows[:limit]
        if f.after is not None:
            rows.reverse()
        found = Tail([{"time": r["at"], "user": r["account"], "action": r["action"], **json.loads(r["details"])}
                      for r in rows], sources=[r["source"] for r in rows])
        if rows and (more or f.after is not None):
            found.older = rows[-1]["id"]
        if rows and (f.before is not None or f.after is not None):
            found.newer = rows[0]["id"]
        return found


def select(f: AuditFilter, at: str | None, limit: int) -> tuple[str, list[Any]]:
    """The page's statement on ``console_audit`` and its values: the filters' conditions, the cursor's ``(at, id)``
    (``at`` its time), one row past ``limit``; newest first, or oldest first after an ``after`` cursor."""
    where, values = f.where()
    if at is not None:
        where.append("(at, id) > (?, ?)" if f.after is not None else "(at, id) < (?, ?)")
        values += [at, f.after if f.after is not None else f.before]
    order = "ORDER BY at, id " if f.after is not None else "ORDER BY at DESC, id DESC "
    return ("SELECT id, at, account, action, details, source FROM console_audit "
            + ("WHERE " + " AND ".join(where) + " " if where else "") + order + "LIMIT ?", [*values, limit + 1])


def audit_log(path: Path, source: Any) -> AuditLog:
    """The store's table on PostgreSQL (``source`` writes there), else the JSON-lines file at ``path``."""
    from .source import PgSource

    return PgAuditLog(source) if isinstance(source, PgSource) else AuditLog(path)


def why_unwritten(exc: BaseException) -> str:
    """Why an audit entry was not written, in words safe to show and log: the exception's type and the system's
    own text of an OS error (``No space left on device``) or PostgreSQL's SQLSTATE; never the exception's message,
    which may quote a value."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    state = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__} (SQLSTATE {state})" if state else type(exc).__name__


def why_unread(exc: BaseException) -> str:
    """Why the audit page could not read the log, in an operator's words, then the error's type and the system's own
    words as :func:`why_unwritten` gives them (never the exception's message: it may quote a path or a relation)."""
    state = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, IsADirectoryError):
        what = "the audit file is a directory, not a file (console.audit_log in data_dir)"
    elif isinstance(exc, PermissionError):
        what = "the sidecar may not read the audit file (its permissions; console.audit_log in data_dir)"
    elif isinstance(exc, OSError):
        what = "the audit file cannot be read (console.audit_log in data_dir)"
    elif state == "42P01":
        what = ("the store has no table console_audit (dropped, or the store is not at schema revision 0010: "
                "overstap store migrate)")
    elif state == "42501":
        what = "the store's user of this sidecar may not read the table console_audit (a permission revoked)"
    elif state[:2] in ("08", "57") or isinstance(exc, RuntimeError):
        what = "the connection to the store's database was lost or refused"
    else:
        what = "the audit log could not be read"
    return f"{what}: {why_unwritten(exc)}"
