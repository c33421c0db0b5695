"""Bring a replica's old audit file into the PostgreSQL store's ``console_audit``, once (``overstap console
import-audit``, session 29).

Before schema revision 0010 each replica wrote its own ``data_dir/console-audit.jsonl``; since then the store holds
one log for all, and the old files were left beside it, unread by the audit page. The import keys every line on a
digest of its bytes and its occurrence among identical lines of the file (``imported`` in the entry's details,
unique by an index), so importing a file again, or a copy of it, adds nothing; a line that is no entry (torn by a
crash mid-write, cut by a truncation) is reported by its number and the rest imported. The lines hold who, when,
what and ids (never a BSN, a name or care data), and are copied field for field.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .auditlog import entry
from .queries import invalid_index

KEY = "imported"
"""The detail that marks an imported entry: the line's SHA-256 (24 hex digits) and its occurrence, ``<digest>:<n>``."""
INDEX = "console_audit_imported"
UNIQUE = (f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON console_audit ((details->>'{KEY}')) "
          f"WHERE (details->>'{KEY}') IS NOT NULL")
"""One row per key, whoever imports (two operators at once, the same file twice): built beside the replicas' writes."""
INSERT = ("INSERT INTO console_audit (at, account, action, details) VALUES (%s, %s, %s, %s::jsonb) "
          f"ON CONFLICT ((details->>'{KEY}')) WHERE (details->>'{KEY}') IS NOT NULL DO NOTHING")
BATCH = 1000
"""Rows per round trip."""
LINE = 1 << 20
"""The longest line imported, in bytes: the console writes ids (about 150 bytes a line); a longer line is named and
passed over, read in blocks of this size, so a file of one endless line (a disk image named by mistake) holds no
more than this in memory."""
NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
"""A JSON ``\\u0000`` (not an escaped backslash before ``u0000``): PostgreSQL's text and jsonb hold no NUL."""


NAMED = 20
"""Line numbers kept (and named in the report) of each kind; the others are counted only."""


@dataclass(slots=True)
class Lines:
    """Lines of one kind by number (from 1): how many, and the first :data:`NAMED` of them. A file of millions of
    lines that are no entry (another log named by mistake) costs a count, not a list of millions."""

    count: int = 0
    first: list[int] = field(default_factory=list)

    def add(self, number: int) -> None:
        self.count += 1
        if len(self.first) < NAMED:
            self.first.append(number)


@dataclass(slots=True)
class Imported:
    """What an import did: entries added, entries already there (an earlier import), lines that were no entry."""

    added: int = 0
    present: int = 0
    unread: Lines = field(default_factory=Lines)
    """Lines that were no entry."""
    refused: Lines = field(default_factory=Lines)
    """Lines longer than :data:`LINE` or holding what PostgreSQL refuses (a NUL character, a lone surrogate, NaN or
    Infinity): imported, they would end the one transaction with an error quoting the line."""


def at_of(found: dict[str, Any]) -> str | None:
    """The entry's time as ``console_audit.at`` holds it (UTC, ISO 8601 to the second, as the console writes it), or
    None when the line's object is no entry: user and action not text, or a time without its offset or not ISO 8601
    (the page orders by that text: another form, or another offset, would sort the entry to the wrong place)."""
    if not all(isinstance(found.get(k), str) and found[k] for k in ("time", "user", "action")):
        return None
    try:
        when = dt.datetime.fromisoformat(found["time"])
    except ValueError:
        return None
    return when.astimezone(dt.UTC).isoformat(timespec="seconds") if when.utcoffset() is not None else None


def lines_of(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """The file's lines with their numbers (from 1), without the line end; None for one longer than :data:`LINE`,
    which is read past in blocks and never held whole. Opened without waiting and checked a regular file on the
    descriptor itself, so a FIFO or device put in the file's place after the caller's check is refused, not read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    with os.fdopen(fd, "rb") as f:
        number = 0
        while line := f.readline(LINE + 1):
            number += 1
            if len(line) > LINE and not line.endswith(b"\n"):
                while (rest := f.readline(LINE)) and not rest.endswith(b"\n"):
                    pass
                yield number, None
                continue
            yield number, line.rstrip(b"\r\n")


def storable(line: bytes, found: dict[str, Any], details: dict[str, Any]) -> str | None:
    """``details`` as the jsonb text stored, or None when PostgreSQL would refuse the entry: NaN or Infinity (no
    JSON to PostgreSQL), a NUL character (text and jsonb hold none), a lone surrogate (no UTF-8). The last two come
    only through a ``\\u`` escape, so only a line with one is looked at again (the console writes none)."""
    try:
        stored = json.dumps(details, sort_keys=True, allow_nan=False)
        if b"\\u" in line:
            if NUL.search(line):
                return None
            (found["user"] + found["action"] + json.dumps(details, ensure_ascii=False)).encode()
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return stored


def rows(path: Path, unread: Lines, refused: Lines) -> Iterator[tuple[str, str, str, str]]:
    """The file's entries as ``console_audit`` rows (at, account, action, details with the key), in file order; the
    number of each line that is no entry (not JSON, no time, user or action as text) is put in ``unread``, that of
    each line too long or holding what PostgreSQL refuses in ``refused``. Each entry's digest is counted (its
    occurrence among identical lines): the memory held grows by about 100 bytes a line, not by the line."""
    seen: Counter[bytes] = Counter()
    for number, line in lines_of(path):
        if line is None:
            refused.add(number)
            continue
        if not line.strip():
            continue
        found = entry(line)
        at = at_of(found) if found is not None else None
        if found is None or at is None:
            unread.add(number)
            continue
        digest = hashlib.sha256(line).digest()[:12]  # what the key names: a line's own bytes are not kept
        details: dict[str, Any] = {k: v for k, v in found.items() if k not in ("time", "user", "action")}
        details[KEY] = f"{digest.hex()}:{seen[digest]}"
        stored = storable(line, found, details)
        if stored is None:
            refused.add(number)
            continue
        seen[digest] += 1
        yield at, found["user"], found["action"], stored


def ensure_unique(conn: Any) -> None:
    """The unique index the import's ``ON CONFLICT`` relies on, built concurrently (an INVALID one left by an
    interrupted build is dropped and built again: PostgreSQL would not use it)."""
    if invalid_index(conn, INDEX):
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    conn.execute(UNIQUE)


def import_file(conn: Any, path: Path) -> Imported:
    """Insert the entries of the audit file at ``path`` into ``console_audit`` on ``conn`` (a store's
    :class:`gateway.pgstore.conn.PgConnection`), those not imported before; one transaction."""
    ensure_unique(conn)
    done = Imported()
    raw = conn.raw
    with raw.transaction():
        batch: list[tuple[str, str, str, str]] = []
        total = 0
        for row in rows(path, done.unread, done.refused):
            batch.append(row)
            if len(batch) == BATCH:
                done.added += _insert(raw, batch)
                total, batch = total + len(batch), []
        done.added += _insert(raw, batch)
        total += len(batch)
    done.present = total - done.added
    return done


def _insert(raw: Any, batch: list[tuple[str, str, str, str]]) -> int:
    """The rows of ``batch`` not there yet, inserted (one pipelined round trip); how many."""
    if not batch:
        return 0
    with raw.cursor() as cur:
        cur.executemany(INSERT, batch)
        return int(cur.rowcount)  # psycopg sums the rows of every statement
