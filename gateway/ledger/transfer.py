"""Carrying a zaak ledger from one store to another: a ``batch --state`` run's ledger into the sidecar's.

Why: a municipality converts its archive with ``overstap batch --state DIR`` and then switches the sidecar
on. The receiver holds the zaken of that archive, so the sidecar must continue them (updateZaak, statuses
on the same zaak) instead of creating them again, and its tijdstipBericht must not go back. Both stores
have the same tables (``SCHEMA``); this copies one into the other inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import epoch, render_record
from .keys_before_s25 import write_keys
from .sqlite import DB_NAME
from .statetext import same_state

MAX_CONFLICTS = 20
"""Conflicts named in a refusal; the rest are counted."""

_TABLES: dict[str, tuple[tuple[str, ...], str, tuple[str, ...]]] = {
    "chain_key": (("key",), "zaak", ()),
    "zaak_state": (("zaak",), "state", ("updated_at",)),
    "remembered": (("kind", "key"), "value", ()),
}
"""table -> (key columns, value column, columns carried along): rows that must agree where both ledgers hold them."""


_COLUMNS = {**{table: (*keys, value, *along) for table, (keys, value, along) in _TABLES.items()},
            "zender_tijdstip": ("zender", "tijdstip")}
"""The ledger's tables and their columns (``SCHEMA``): a file without them is no ledger, one with more was written
by a release whose ledger this one cannot carry whole."""


_NOT_CARRIED = {"remembered": f" WHERE kind <> '{render_record.KIND}'"}
"""Rows of the source that stay there: its render settings' record describes the batch run, not the sidecar
(compared by the import, gateway/cli/outbox_import.py; carried, a second import's record would conflict)."""


LATER_TIJDSTIP = ("INSERT INTO zender_tijdstip (zender, tijdstip) VALUES (?, ?) ON CONFLICT (zender) DO UPDATE SET "
                  "tijdstip = CASE WHEN excluded.tijdstip > zender_tijdstip.tijdstip THEN excluded.tijdstip "
                  "ELSE zender_tijdstip.tijdstip END")
"""The later of the two tijdstippen, decided in the statement itself: on PostgreSQL a batch shard takes values from
the same row without the store's write lock (gateway/pgstore/chunked.py), so one read earlier may be stale."""


BATCH_OUTPUTS = "batch-outputs"
"""``remembered`` kind under which a batch run keeps rendered outputs until its journal records them
(gateway/batch/ledgered.py): rows there mean the run has not finished."""


class UnfinishedRun(ValueError):
    """The ledger still keeps outputs of its batch run that the run's journal has not recorded."""


class NotALedger(ValueError):
    """The ``--state`` folder's ledger file is junk, something else's database, or a ledger of another shape."""


class LedgerConflict(ValueError):
    """Both ledgers hold a chain key, zaak or remembered value, with different contents."""

    def __init__(self, conflicts: list[str], total: int) -> None:
        more = f" (and {total - len(conflicts)} more)" if total > len(conflicts) else ""
        super().__init__(f"{total} entr{'y' if total == 1 else 'ies'} differ between the two ledgers: "
                         + "; ".join(conflicts) + more + ". Nothing was imported.")
        self.conflicts = conflicts
        self.total = total


@dataclass(slots=True)
class Imported:
    """Rows copied per table, and those both ledgers already held alike."""

    copied: dict[str, int] = field(default_factory=dict)
    same: int = 0
    replaced: int = 0


def ledger_file(state_dir: str | Path) -> Path:
    """The ledger database of a ``--state`` folder, checked (:func:`open_source`) before the store is touched;
    raises FileNotFoundError naming it when absent, :class:`NotALedger` when it cannot be carried over."""
    path = Path(state_dir) / DB_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no zaak ledger at {path} (the folder given to 'batch --state' or 'convert --state')")
    open_source(path).close()
    return path


def open_source(path: Path) -> sqlite3.Connection:
    """``path`` read-only, inside one read transaction, its tables checked.

    Why the transaction: a batch run may still write the ledger; without one snapshot for all reads, a zaak
    committed between the read of ``chain_key`` and that of ``zaak_state`` arrives without its keys, and the
    sidecar then creates the zaak again. Why the checks: a junk file or another program's database must be
    refused in one line before anything is written, and a ledger with columns this release does not know
    would lose them; a tijdstipBericht that is not 17 digits would break the text order the import keeps.
    A run that has not finished (killed before its journal caught up) holds zaak states of outputs not yet
    in its OUT, and those outputs themselves (personal data the sidecar never reads nor purges).
    """
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        src.execute("BEGIN")
        for table, expected in _COLUMNS.items():
            found = tuple(row[1] for row in src.execute(f"PRAGMA table_info({table})"))
            if not found:
                raise NotALedger(f"{path} is not a zaak ledger: it has no table {table}")
            if sorted(found) != sorted(expected):
                raise NotALedger(f"{path}: table {table} has columns ({', '.join(found)}), not ({', '.join(expected)})"
                                 ": a ledger of another release, which this one cannot carry whole")
        if src.execute("SELECT 1 FROM zender_tijdstip WHERE length(tijdstip) != 17 OR tijdstip GLOB '*[^0-9]*'"
                       " LIMIT 1").fetchone():
            raise NotALedger(f"{path}: a tijdstipBericht in zender_tijdstip is not yyyymmddhhmmssfff")
        kept = src.execute("SELECT count(*) FROM remembered WHERE kind = ?", (BATCH_OUTPUTS,)).fetchone()[0]
        if kept:
            raise UnfinishedRun(f"{path}: the batch run that wrote it has not finished (it keeps {kept} set(s) of "
                                "outputs its OUT has not recorded yet): run it again with --resume, deliver its "
                                "outputs, then import. Nothing was imported.")
    except sqlite3.DatabaseError as exc:
        src.close()
        raise NotALedger(f"cannot read the zaak ledger {path}: SQLite says {exc}") from None
    except ValueError:  # NotALedger, UnfinishedRun
        src.close()
        raise
    return src


def holds(source: Path, zaken: Iterable[str]) -> set[str]:
    """Which of ``zaken`` the ledger file ``source`` holds a state of (read-only)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        return {z for z in zaken if src.execute("SELECT 1 FROM zaak_state WHERE zaak = ?", (z,)).fetchone()}
    finally:
        src.close()


def recorded_settings(source: Path) -> dict[str, str] | None:
    """The render settings' record of the ledger file ``source`` (gateway/ledger/render_record.py), None: none."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        row = src.execute("SELECT value FROM remembered WHERE kind = ? AND key = ''", (render_record.KIND,)).fetchone()
        return render_record.from_text(None if row is None else str(row[0]))
    finally:
        src.close()


def _same_json(table: str, held: str, content: str) -> bool:
    """A zaak state written in another spelling (before orjson: other spacing, escapes) is the same state."""
    return table == "zaak_state" and same_state(held, content)


def import_ledger(source: Path, conn: Any, *, replace: bool = False) -> Imported:
    """Copy the ledger in ``source`` into the ledger tables reached through ``conn`` (the caller commits): a
    sqlite3 connection or a PgConnection (the statements are written for both).

    A chain key, zaak state or remembered value that ``conn`` already holds with another content is a
    conflict: all are named (bounded) in :class:`LedgerConflict`, and the caller's transaction must roll
    back (nothing imported), unless ``replace`` lets the source win.
    tijdstipBericht per zender takes the later of the two, so it never goes back. When anything was copied the
    ledger's epoch moves (gateway/ledger/epoch.py), so a sidecar's message rendered before the import is rendered
    again, against the imported zaken, instead of being committed over them. The ledger tables must
    exist in ``conn``'s database (``create_tables`` in staged.py, before the transaction: it commits).
    """
    src = open_source(source)
    try:
        result = Imported()
        conflicts: list[str] = []
        total = 0
        for table, (keys, value, along) in _TABLES.items():
            where = " AND ".join(f"{k} = ?" for k in keys)
            columns = (*keys, value, *along)
            insert = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                      f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET "
                      + ", ".join(f"{c} = excluded.{c}" for c in (value, *along)))  # SQLite's and PostgreSQL's
            for row in src.execute(f"SELECT {', '.join(columns)} FROM {table}{_NOT_CARRIED.get(table, '')}"):
                key, content = row[:len(keys)], row[len(keys)]
                held = conn.execute(f"SELECT {value} FROM {table} WHERE {where}", key).fetchone()
                if held is not None and (held[0] == content or _same_json(table, held[0], content)):
                    result.same += 1
                    continue
                if held is not None and not replace:
                    total += 1
                    if len(conflicts) < MAX_CONFLICTS:
                        conflicts.append(f"{table} {'/'.join(str(v) for v in key)}")
                    continue
                result.replaced += held is not None
                conn.execute(insert, row)
                result.copied[table] = result.copied.get(table, 0) + 1
        if total:
            raise LedgerConflict(conflicts, total)
        write_keys(conn)  # the source may be a ledger an earlier release wrote and no later one opened
        for zender, tijdstip in src.execute("SELECT zender, tijdstip FROM zender_tijdstip"):
            held = conn.execute("SELECT tijdstip FROM zender_tijdstip WHERE zender = ?", (zender,)).fetchone()
            if held is not None and held[0] >= tijdstip:  # the same width (yyyymmddhhmmssfff): text order is time
                result.same += 1
                continue
            conn.execute(LATER_TIJDSTIP, (zender, tijdstip))
            result.copied["zender_tijdstip"] = result.copied.get("zender_tijdstip", 0) + 1
        if result.copied:  # a SQLite sidecar renders ahead of its commits: what it rendered before this is redone
            epoch.move(conn)
        return result
    finally:
        src.close()
