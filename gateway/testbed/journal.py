"""The testbed's memory across restarts: every accepted message, in order, in SQLite.

The reference receiver keeps its zaken in memory. Rather than give it a second storage model, the testbed
writes each message it accepted (bytes and SOAPAction) and, on start, offers them to a fresh receiver in the
same order: the zaken come back exactly as the rules built them. Refused messages are kept too, for the
``/api/berichten`` view, but never replayed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.receiver import Answer, Receiver

from .ggk import GgkIntake

DB_NAME = "testbed.sqlite3"
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


class Journal:
    """Accepted and refused messages in ``data_dir/testbed.sqlite3``; safe to use from several threads."""

    def __init__(self, data_dir: str | Path) -> None:
        folder = Path(data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / DB_NAME
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a Bv03 means the zaak change survives a restart
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def record(self, body: bytes, soap_action: str | None, answer: Answer) -> None:
        """Keep one answered message; a duplicate (the earlier answer again) is not kept twice."""
        if answer.duplicate:
            return
        with self._lock:
            self._conn.execute(
                "INSERT INTO bericht (received_at, soap_action, body, accepted, referentienummer, zaak, operation,"
                " code, rule) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), soap_action, body, int(answer.accepted), answer.referentienummer, answer.zaak,
                 answer.operation, answer.code, answer.rule))

    def issue(self, gemeente: str) -> str:
        """A new zaak identificatie for ``gemeente``: ``{gemeente}TB{n:010d}``, n never used before (durable)."""
        with self._lock:
            row = self._conn.execute("INSERT INTO issued (gemeente, last) VALUES (?, 1) ON CONFLICT(gemeente) DO "
                                     "UPDATE SET last = last + 1 RETURNING last", (gemeente,)).fetchone()
        return f"{gemeente}TB{int(row[0]):010d}"

    def replay(self, receiver: Receiver, ggk: GgkIntake | None = None) -> int:
        """Offer every accepted message again in arrival order (GGk envelopes to ``ggk``); how many were accepted.
        A refused one is only recalled, so a resend accepted after it is recognised again (StUF 03.01 §4.4.3)."""
        again = 0
        for body, action, operation, accepted, code in self._rows(
                "SELECT body, soap_action, operation, accepted, code FROM bericht ORDER BY id"):
            if not accepted:
                receiver.recall_refused(bytes(body), action, code)
            elif (operation or "").startswith("ggk-"):
                again += ggk.receive(bytes(body)).accepted if ggk is not None else 0
            else:
                again += receiver.receive(bytes(body), action).accepted
        return again

    def entries(self, zaak: str | None = None, limit: int = 200) -> list[Entry]:
        """The newest messages first (of one zaak, when given)."""
        where, args = ("WHERE zaak = ?", (zaak, limit)) if zaak else ("", (limit,))
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
