"""The testbed's memory across restarts: every accepted message, in order, in SQLite, written before it is applied.

The reference receiver keeps its zaken in memory. Rather than give it a second storage model, the testbed
writes each message (bytes and SOAPAction) *before* the receiver applies it (:meth:`Journal.begin`), then notes
the answer (:meth:`Journal.settle`); on start it offers the accepted ones to a fresh receiver in the same order,
so the zaken come back as the rules built them. A message whose write fails is not applied at all and is answered
Fo03 StUF046: StUF 03.01 §4.4.3, a Bv03 means "De ontvanger heeft zeker gesteld dat het bericht veilig is
opgeslagen", which an in-memory change with a failed write is not.

A refused message is not replayed, only recalled (its zender, referentienummer, digest and code), so its body is
not needed: the journal keeps a refused body only up to :data:`REFUSED_BODY_MAX` bytes and for the newest
:data:`REFUSED_BODIES` refusals, an unreadable message's body never (its size and sha256 only), and of the
unreadable ones only the newest :data:`UNREADABLE_ROWS` rows, so junk cannot fill the disk.

A message accepted before and refused on replay (another schema setting, reference schemas gone, a changed
receiver) would silently drop its zaak change: :meth:`Journal.replay` names each such row and, unless told to
accept the differences, raises :class:`ReplayDifferences` so the testbed does not start on a history it lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from gateway.receiver import Answer, Receiver, Refusal, Zender
from gateway.receiver.message import read_message

from .ggk import GgkIntake, is_ggk

DB_NAME = "testbed.sqlite3"
REFUSED_BODY_MAX = 64 * 1024
"""A refused body longer than this is not kept (replay needs only its digest); shorter ones help a tester."""
REFUSED_BODIES = 200
"""Refused bodies are kept for the newest this many refusals only."""
UNREADABLE_ROWS = 1000
"""Rows of unreadable messages (no stuurgegevens: nothing to recall) kept, newest first; older ones are deleted."""
REFUSED_ROWS = 100_000
"""Rows of refused readable messages kept: the receiver's default ``remembered``, beyond which it forgets them too."""
LOG = logging.getLogger("overstap.testbed")
SCHEMA = """
CREATE TABLE IF NOT EXISTS bericht (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    soap_action TEXT,
    body BLOB NOT NULL,
    accepted INTEGER NOT NULL,
    referentienummer TEXT,
    zaak TEXT,
    operation TEXT,
    code TEXT,
    rule TEXT
);
CREATE INDEX IF NOT EXISTS bericht_zaak ON bericht(zaak);
CREATE TABLE IF NOT EXISTS issued (gemeente TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""
COLUMNS = {  # added to a journal written before they existed
    "pending": "INTEGER NOT NULL DEFAULT 0",  # written ahead, answer not yet noted: replayed as if new
    "digest": "TEXT",  # the receiver's digest of a message it remembers (a resend is recognised by it)
    "zender": "TEXT",  # JSON [organisatie, applicatie, administratie]
    "size": "INTEGER",  # bytes received
    "sha256": "TEXT",  # of the bytes received, kept when the body is not
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One received message as the journal lists it (never its body)."""

    id: int
    received_at: float
    accepted: bool
    referentienummer: str | None
    zaak: str | None
    operation: str | None
    code: str | None
    rule: str | None


@dataclass(frozen=True, slots=True)
class Difference:
    """A journal row accepted before that the receiver refuses on replay: its zaak change is not there now."""

    id: int
    referentienummer: str | None
    code: str | None
    rule: str | None

    def __str__(self) -> str:
        return f"journal row {self.id} (referentienummer {self.referentienummer}): accepted before, now {self.code} " \
               f"[{self.rule}]"


class ReplayDifferences(click.ClickException):
    """The journal's history does not replay as it was answered; the testbed should not start on it unnoticed."""

    def __init__(self, path: Path, differences: list[Difference]) -> None:
        shown = "\n  ".join(str(d) for d in differences[:50])
        more = f"\n  … and {len(differences) - 50} more" if len(differences) > 50 else ""
        super().__init__(
            f"{len(differences)} message(s) in {path} were answered Bv03 before and are refused on replay now, so "
            f"their zaak changes would be lost:\n  {shown}{more}\nStart with the settings they were accepted under "
            "(e.g. --no-validate, the same reference schemas), or accept the differences (overstap testbed "
            "--accept-replay-differences), or move the journal aside.")
        self.differences = differences


class Journal:
    """Accepted and refused messages in ``data_dir/testbed.sqlite3``; safe to use from several threads."""

    def __init__(self, data_dir: str | Path, *, timeout: float = 5.0, refused_bodies: int = REFUSED_BODIES,
                 unreadable_rows: int = UNREADABLE_ROWS) -> None:
        """``timeout``: how long a write waits for a lock someone else holds before the message is refused StUF046;
        ``refused_bodies`` and ``unreadable_rows``: the bounds above (a test sets them small)."""
        self.refused_bodies = refused_bodies
        self.unreadable_rows = unreadable_rows
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_NAME
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=timeout)
        self._conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes on a new journal only: pruned space is returned
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a Bv03 means the zaak change survives a restart
        self._conn.execute("PRAGMA journal_size_limit=4194304")  # a 10 MiB junk body must not keep a 10 MiB WAL
        self._conn.executescript(SCHEMA)
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(bericht)")}
        for name, kind in COLUMNS.items():
            if name not in have:
                self._conn.execute(f"ALTER TABLE bericht ADD COLUMN {name} {kind}")
        self._conn.execute("CREATE INDEX IF NOT EXISTS bericht_refused ON bericht(accepted, pending, id)")
        self._lock = threading.Lock()
        self.differences: list[Difference] = []
        """What the last :meth:`replay` found accepted before and refused now (kept when told to accept them)."""

    def begin(self, body: bytes, soap_action: str | None) -> int:
        """Write ``body`` durably before it is applied (write-ahead); its row id. Raises :class:`sqlite3.Error`
        (lock held too long, disk full …): then the message must not be applied, and is answered StUF046."""
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO bericht (received_at, soap_action, body, accepted, pending, size, sha256)"
                " VALUES (?, ?, ?, 0, 1, ?, ?)",
                (time.time(), soap_action, body, len(body), hashlib.sha256(body).hexdigest()))
            return int(cursor.lastrowid or 0)

    def settle(self, row: int, body: bytes, answer: Answer) -> None:
        """Note how the message written at ``row`` was answered. A duplicate (the earlier answer again) is not kept
        twice; a refused body is kept only within the bounds above. Should this fail, the row stays pending and
        is replayed as if new: the same rules give the same answer, so what was answered still holds."""
        zender = json.dumps([answer.zender.organisatie, answer.zender.applicatie, answer.zender.administratie]) \
            if answer.zender else None
        with self._lock:
            if answer.duplicate:
                self._conn.execute("DELETE FROM bericht WHERE id = ?", (row,))
                return
            kept = body if answer.accepted or (answer.digest and len(body) <= REFUSED_BODY_MAX) else b""
            self._conn.execute(
                "UPDATE bericht SET pending = 0, accepted = ?, body = ?, referentienummer = ?, zaak = ?, operation = ?,"
                " code = ?, rule = ?, digest = ?, zender = ? WHERE id = ?",
                (int(answer.accepted), kept, answer.referentienummer, answer.zaak, answer.operation, answer.code,
                 answer.rule, answer.digest, zender, row))
            if not answer.accepted:
                self._prune()
                self._conn.executescript("PRAGMA incremental_vacuum;")  # stepped to the end: execute frees one page

    def _prune(self) -> None:
        """Keep refused bodies, unreadable rows and refused rows within their bounds (oldest go first)."""
        refused = "accepted = 0 AND pending = 0"
        self._conn.execute(
            f"UPDATE bericht SET body = x'' WHERE {refused} AND length(body) > 0 AND id <= (SELECT id FROM bericht"
            f" WHERE {refused} ORDER BY id DESC LIMIT 1 OFFSET ?)", (self.refused_bodies,))
        self._conn.execute(
            f"DELETE FROM bericht WHERE {refused} AND digest IS NULL AND id <= (SELECT id FROM bericht WHERE"
            f" {refused} AND digest IS NULL ORDER BY id DESC LIMIT 1 OFFSET ?)", (self.unreadable_rows,))
        self._conn.execute(
            f"DELETE FROM bericht WHERE {refused} AND id <= (SELECT id FROM bericht WHERE {refused}"
            " ORDER BY id DESC LIMIT 1 OFFSET ?)", (REFUSED_ROWS,))

    @staticmethod
    def unstored(body: bytes, soap_action: str | None, error: Exception) -> Answer:
        """The Fo03 for a message :meth:`begin` could not write: StUF046 "Opslaan bericht niet mogelijk", plek
        server (StUF 03.01 Tabel 4.1), addressed to its zender and crossRef'd to its referentienummer when readable.
        Nothing was applied, so the same message offered again once the store recovers is processed."""
        try:
            inbound = read_message(body, soap_action, validate=False)
            referentienummer, zender = inbound.referentienummer, inbound.zender
        except Refusal as fout:
            referentienummer, zender = fout.referentienummer, fout.zender
        fout = Refusal("StUF046", "journal-write", "bericht", "the testbed could not store this message, so it "
                       f"applied nothing; offer it again later (StUF 03.01 Tabel 4.1): {type(error).__name__}",
                       "server", referentienummer, zender)
        return Answer(False, referentienummer, fout=fout, zender=zender)

    def record(self, body: bytes, soap_action: str | None, answer: Answer) -> None:
        """Keep one message answered already (:meth:`begin` and :meth:`settle` in one)."""
        if not answer.duplicate:
            self.settle(self.begin(body, soap_action), body, answer)

    def issue(self, gemeente: str) -> str:
        """A new zaak identificatie for ``gemeente``: ``{gemeente}TB{n:010d}``, n never used before (durable)."""
        with self._lock:
            row = self._conn.execute("INSERT INTO issued (gemeente, last) VALUES (?, 1) ON CONFLICT(gemeente) DO "
                                     "UPDATE SET last = last + 1 RETURNING last", (gemeente,)).fetchone()
        return f"{gemeente}TB{int(row[0]):010d}"

    def replay(self, receiver: Receiver, ggk: GgkIntake | None = None, *, accept_differences: bool = False) -> int:
        """Offer every accepted (or still pending) message again in arrival order (GGk envelopes to ``ggk``); how
        many were accepted. A refused one is only recalled, so a resend accepted after it is recognised again (StUF
        03.01 §4.4.3). A row accepted before and refused now is a :class:`Difference`: each is logged, and unless
        ``accept_differences`` :class:`ReplayDifferences` is raised once all rows are replayed."""
        again = 0
        differences: list[Difference] = []
        for row, body, action, accepted, pending, code, digest, zender, referentienummer in self._rows(
                "SELECT id, body, soap_action, accepted, pending, code, digest, zender, referentienummer FROM bericht"
                " ORDER BY id"):
            if not accepted and not pending:
                if digest and zender and referentienummer:
                    receiver.recall(Zender(*json.loads(zender)), referentienummer, digest, code)
                elif body:  # a journal written before digests were kept
                    receiver.recall_refused(bytes(body), action, code)
                continue
            data = bytes(body)
            if is_ggk(data) and ggk is None:
                continue
            answer = ggk.receive(data) if ggk is not None and is_ggk(data) else receiver.receive(data, action)
            again += answer.accepted
            if pending:
                self._settle_replayed(row, data, answer)
            elif not answer.accepted:
                differences.append(Difference(row, referentienummer, answer.code, answer.rule))
        self.differences = differences
        for difference in differences:
            LOG.warning("testbed replay: %s", difference)
        if differences and not accept_differences:
            raise ReplayDifferences(self.path, differences)
        return again

    def _settle_replayed(self, row: int, body: bytes, answer: Answer) -> None:
        """A pending row's answer, found on replay; if the journal still cannot be written it stays pending."""
        try:
            self.settle(row, body, answer)
        except sqlite3.Error as exc:
            LOG.warning("testbed replay: journal row %d stays pending (%s)", row, exc)

    def entries(self, zaak: str | None = None, limit: int = 200) -> list[Entry]:
        """The newest messages first (of one zaak, when given)."""
        where, args = ("WHERE pending = 0 AND zaak = ?", (zaak, limit)) if zaak else ("WHERE pending = 0", (limit,))
        rows = self._rows("SELECT id, received_at, accepted, referentienummer, zaak, operation, code, rule"
                          f" FROM bericht {where} ORDER BY id DESC LIMIT ?", args)
        return [Entry(r[0], r[1], bool(r[2]), *r[3:]) for r in rows]

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> Iterator[tuple]:  # type: ignore[type-arg]
        with self._lock:
            rows = self._conn.execute(sql, args).fetchall()
        yield from rows

    def close(self) -> None:
        with self._lock:
            self._conn.close()
