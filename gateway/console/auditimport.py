"""Bring a replica's old audit file into the PostgreSQL store's ``console_audit``, once (``overstap console
import-audit``, session 29).

Before schema revision 0010 each replica wrote its own ``data_dir/console-audit.jsonl``; since then the store holds
one log for all, and the old files were left beside it, unread by the audit page. The import keys every line on
its source (the replica whose file it is: ``console_audit.source``, schema 0011), a digest of its bytes and its
occurrence among identical lines of the file (``imported`` in the entry's details; unique by an index), so importing
a file again, or a copy of it under the same source, adds nothing, while two replicas' identical lines stay two
entries; a line that is no entry (torn by a crash mid-write, cut by a truncation) is reported by its number and the
rest imported. Entries are committed :data:`BATCH` at a time (session 30): the memory held stays flat whatever the
file's size, and an import stopped half way goes on where it stopped when run again. The lines hold who, when, what
and ids (never a BSN, a name or care data), and are copied field for field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.regularfile import open_regular

from .auditlog import entry
from .queries import invalid_index

KEY = "imported"
"""The detail that marks an imported entry: the line's SHA-256 (24 hex digits) and its occurrence, ``<digest>:<n>``."""
INDEX = "console_audit_imported_source"
UNIQUE = (f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON console_audit (source, (details->>'{KEY}')) "
          f"WHERE (details->>'{KEY}') IS NOT NULL")
"""One row per source and key, whoever imports (two operators at once, the same file twice): built beside the
replicas' writes. Session 29's index on the key alone (``console_audit_imported``) merged two replicas' identical
lines; revision 0011 drops it."""
CONFLICT = f"ON CONFLICT (source, (details->>'{KEY}')) WHERE (details->>'{KEY}') IS NOT NULL DO NOTHING"
INSERT = ("INSERT INTO console_audit (at, account, action, details, source) "
          f"VALUES (%(at)s, %(account)s, %(action)s, %(details)s::jsonb, %(source)s) {CONFLICT}")
CLAIM = (f"WITH legacy AS (SELECT id FROM console_audit WHERE source IS NULL AND (details->>'{KEY}') = %(key)s "
         f"AND NOT EXISTS (SELECT 1 FROM console_audit WHERE source = %(source)s AND (details->>'{KEY}') = %(key)s) "
         "LIMIT 1 FOR UPDATE SKIP LOCKED), "
         "claimed AS (UPDATE console_audit SET source = %(source)s WHERE id IN (SELECT id FROM legacy) RETURNING id) "
         "INSERT INTO console_audit (at, account, action, details, source) "
         "SELECT %(at)s, %(account)s, %(action)s, %(details)s::jsonb, %(source)s "
         f"WHERE NOT EXISTS (SELECT 1 FROM claimed) {CONFLICT}")
"""The insert while the store holds entries imported before 0011 (no source): such an entry with the line's key is
taken as this source's (given the source, not inserted again), so a file imported by session 29's release and
imported again adds nothing, and a second replica's identical line, finding it taken, is inserted as its own."""
LEGACY = (f"SELECT EXISTS (SELECT 1 FROM console_audit WHERE source IS NULL AND (details->>'{KEY}') IS NOT NULL)")
BATCH = 10_000
"""Entries a transaction (``--batch``): the rows of one are held in memory, sent pipelined, committed together."""
WINDOW = 20_000
"""Distinct lines whose occurrence is counted at once, the least recently seen forgotten first (about 3 MiB; at
100,000 the churn of a dictionary that large let the process grow by 20 MiB over a million lines). Identical lines
are of one second (a page loaded twice): a line identical to one more than this many distinct lines before it (the
clock set back by days) would take that one's key and be counted as already there."""
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
    """Entries already there: imported before (under this source), or taken from an import before 0011."""
    committed: int = 0
    """Entries of the batches committed so far (added or present): what a failure part way leaves in the store."""
    held: int = 0
    """The most distinct lines whose occurrence was counted at once (at most :data:`WINDOW`)."""
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


def file_source(path: Path) -> str:
    """The default source of an audit file: ``file:`` and 24 hex digits of its first line's SHA-256. An old audit
    file is no longer written and its first line (its replica's first entry: a time, a user, an action) stays its
    name wherever it is copied to and whatever the host is called; two replicas' files begin alike only when one
    data dir was cloned from the other, and then those first entries are the same entries."""
    with open_regular(path) as f:
        first = f.readline(LINE + 1)
    digest = hashlib.sha256(first.rstrip(b"\r\n")).hexdigest()[:24]
    return f"file:{digest}" if first else "file:empty"


def lines_of(path: Path) -> Iterator[tuple[int, bytes | None]]:
    """The file's lines with their numbers (from 1), without the line end; None for one longer than :data:`LINE`,
    which is read past in blocks and never held whole. Opened without waiting and checked a regular file on the
    descriptor itself, so a FIFO or device put in the file's place after the caller's check is refused, not read."""
    with open_regular(path) as f:
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


class Occurrences:
    """How often each of the last ``window`` distinct lines was seen, by digest: the memory of a file of 10 million
    lines is that of ``window`` digests, not of 10 million (session 29 kept them all: about 100 bytes an entry)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.seen: OrderedDict[bytes, int] = OrderedDict()
        self.held = 0

    def of(self, digest: bytes) -> int:
        """How many identical lines came before (among those remembered)."""
        return self.seen.get(digest, 0)

    def add(self, digest: bytes) -> None:
        """One more of ``digest``: remembered as the most recent, the least recent forgotten past the window."""
        self.seen[digest] = self.seen.pop(digest, 0) + 1
        if len(self.seen) > self.window:
            self.seen.popitem(last=False)
        self.held = max(self.held, len(self.seen))


Row = tuple[int, dict[str, str]]
"""A line's number and its ``console_audit`` row (at, account, action, details, key), for :data:`INSERT`."""


def rows(path: Path, unread: Lines, refused: Lines, window: int | None = None,
         counted: Occurrences | None = None) -> Iterator[Row]:
    """The file's entries as ``console_audit`` rows with their line numbers, in file order; the number of each line
    that is no entry (not JSON, no time, user or action as text) is put in ``unread``, that of each line too long or
    holding what PostgreSQL refuses in ``refused``. Each entry's digest is counted (its occurrence among identical
    lines) in ``counted`` (else one of ``window``, default :data:`WINDOW`): the memory held is bounded by it."""
    seen = counted if counted is not None else Occurrences(window or WINDOW)
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
        details[KEY] = f"{digest.hex()}:{seen.of(digest)}"
        stored = storable(line, found, details)
        if stored is None:
            refused.add(number)
            continue
        seen.add(digest)
        yield number, {"at": at, "account": found["user"], "action": found["action"], "details": stored,
                       "key": details[KEY]}


def ensure_unique(conn: Any) -> None:
    """The unique index the import's ``ON CONFLICT`` relies on, built concurrently (an INVALID one left by an
    interrupted build is dropped and built again: PostgreSQL would not use it)."""
    if invalid_index(conn, INDEX):
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    conn.execute(UNIQUE)


Progress = Callable[[Imported, int], None]
"""Called after each committed batch with the tally so far and the number of the batch's last line."""


def import_file(conn: Any, path: Path, source: str, *, batch: int = BATCH, done: Imported | None = None,
                progress: Progress | None = None) -> Imported:
    """Insert the entries of the audit file at ``path`` into ``console_audit`` on ``conn`` (a store's
    :class:`gateway.pgstore.conn.PgConnection`) as ``source``'s, those not imported before; ``batch`` entries a
    transaction, each committed before the next is read (``done``: the tally to fill, which a caller still holds
    when a read or the store fails part way)."""
    ensure_unique(conn)
    done = done if done is not None else Imported()
    raw = conn.raw
    statement = CLAIM if raw.execute(LEGACY).fetchone()[0] else INSERT
    counted = Occurrences(WINDOW)
    held: list[dict[str, str]] = []
    last = 0
    for last, row in rows(path, done.unread, done.refused, counted=counted):
        held.append({**row, "source": source})
        if len(held) >= batch:
            _commit(raw, statement, held, done, last, progress)
            held = []
    if held:
        _commit(raw, statement, held, done, last, progress)
    done.present = done.committed - done.added
    done.held = counted.held
    return done


def _commit(raw: Any, statement: str, held: list[dict[str, str]], done: Imported, last: int,
            progress: Progress | None) -> None:
    """One batch in its own transaction (one pipelined round trip), counted once committed."""
    with raw.transaction(), raw.cursor() as cur:
        cur.executemany(statement, held)
        added = int(cur.rowcount)  # psycopg sums the rows of every statement
    done.added += added
    done.committed += len(held)
    done.present = done.committed - done.added
    if progress is not None:
        progress(done, last)
