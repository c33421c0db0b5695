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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def lines_backwards(fd: int, end: int, block: int, budget: int, pread: Pread) -> Iterator[tuple[bytes, int]]:
    """The file's lines from ``end`` back to its start, each with the bytes read so far: first what follows the last
    newline (empty unless torn), then each whole line. A line split over two blocks is carried to the next read."""
    floor = max(0, end - budget)  # never read before this offset, whatever the file holds
    pos, carry = end, b""
    while pos > floor:
        size = min(block, pos - floor)
        pos -= size
        chunk = pread(fd, size, pos)
        if len(chunk) != size:
            raise Shrunk
        parts = (chunk + carry).split(b"\n")
        carry = parts[0]
        for line in reversed(parts[1:]):
            yield line, end - pos
    if pos == 0:
        yield carry, end


def entry(line: bytes) -> dict[str, Any] | None:
    """One line as an entry, or None when it is not one (torn, cut, or not an object)."""
    try:
        found = json.loads(line)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def tail(path: Path, limit: int, block: int = BLOCK, budget: int = BUDGET, pread: Pread = os.pread) -> Tail:
    """The newest ``limit`` entries of the file at ``path``, newest first; a file that shrinks while it is read is
    read again from its new end (at most three times, then what was read)."""
    found = Tail()
    for _attempt in range(3):
        found = Tail()
        try:
            with path.open("rb") as f:
                for line, read in lines_backwards(f.fileno(), os.fstat(f.fileno()).st_size, block, budget, pread):
                    found.bytes_read = read
                    if not line.strip():
                        continue
                    parsed = entry(line)  # None for a line torn mid-write (or cut at the start by a truncation)
                    if parsed is None:
                        found.skipped += 1
                        continue
                    found.entries.append(parsed)
                    if len(found.entries) == limit:
                        break
            return found
        except FileNotFoundError:
            return Tail()
        except Shrunk:
            continue
    return found


class AuditLog:
    """Appends one JSON line per audited view or action; a lock keeps lines whole when requests run in threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()

    def write(self, user: str, action: str, **ids: int | str | None) -> None:
        line = json.dumps({"time": now(), "user": user, "action": action, **ids}, sort_keys=True).encode()
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as out:  # readable too: whether the last line is whole
                out.write(line + b"\n" if whole(out.fileno()) else b"\n" + line + b"\n")

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` entries, newest first (the audit page)."""
        return tail(self.path, limit).entries


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

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self.source.writing() as conn:
            rows = conn.execute("SELECT at, account, action, details FROM console_audit ORDER BY id DESC LIMIT ?",
                                (limit,)).fetchall()
        return [{"time": r["at"], "user": r["account"], "action": r["action"], **json.loads(r["details"])}
                for r in rows]


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
