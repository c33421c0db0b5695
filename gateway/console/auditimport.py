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
import hashlib
import json
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


@dataclass(slots=True)
class Imported:
    """What an import did: entries added, entries already there (an earlier import), lines that were no entry."""

    added: int = 0
    present: int = 0
    unread: list[int] = field(default_factory=list)
    """Line numbers (from 1) of lines that were no entry."""


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


def rows(path: Path, unread: list[int]) -> Iterator[tuple[str, str, str, str]]:
    """The file's entries as ``console_audit`` rows (at, account, action, details with the key), in file order; the
    number of each line that is no entry (not JSON, no time, user or action as text) is put in ``unread``."""
    seen: Counter[bytes] = Counter()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            found = entry(line)
            at = at_of(found) if found is not None else None
            if found is None or at is None:
                unread.append(number)
                continue
            digest = hashlib.sha256(line).hexdigest()[:24]
            details: dict[str, Any] = {k: v for k, v in found.items() if k not in ("time", "user", "action")}
            details[KEY] = f"{digest}:{seen[line]}"
            seen[line] += 1
            yield at, found["user"], found["action"], json.dumps(details, sort_keys=True)


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
        for row in rows(path, done.unread):
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
