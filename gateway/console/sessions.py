"""The server-side session store: a logout ends a session for every copy of its cookie.

A signed cookie alone cannot be taken back: a copy stays valid until it expires. So every login writes a row
to ``console_session`` (in the SQLite outbox file; on a PostgreSQL store in the store itself, schema 0010, shared by
every replica: :class:`PgSessionStore`), every request checks that the row is still there, and logout deletes it, on
whichever replica the request lands. The row holds a SHA-256 of the session's nonce,
never the nonce itself: someone who can read the database cannot rebuild a cookie from it (and without
the signing secret could not sign one anyway). The table lives beside the outbox, so a restart with a
configured secret keeps the sessions that are live and keeps the ended ones ended.

A session is also bound to its account as it was at login: the row keeps a keyed fingerprint of the account's
name, role and credential (password hash or admin key; never the credential itself), and every request
compares it with the account under the settings of now. A user removed from ``console.users``, given another
role or another password, or an admin key rotated or ``admin_role`` changed: the session's row is deleted at its
next request, so a restart with the new settings ends it even with the same signing secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.deliver import outbox

from .auth import Session

SCHEMA = ("CREATE TABLE IF NOT EXISTS console_session (nonce_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
          "role TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, credential TEXT NOT NULL DEFAULT '')")
OWN_FILE = "console.sqlite3"
"""Before session 28, on a PostgreSQL store, the console's sessions lived in this SQLite file in each replica's
data_dir (so a login was known to one replica only). Now they are in the store (schema 0010); the file is no longer
read or written (its sessions end: log in again once) and may be deleted."""
LIVE, GONE, REVOKED = "live", "gone", "revoked"
"""What :meth:`SessionStore.check` finds: a live session; none (logged out, expired, never there); or one whose
account changed since its login, ended just now."""


def _key(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class SessionStore:
    """Live sessions by nonce hash in the SQLite outbox file; blocking calls (the console runs them in a thread)."""

    ACCOUNT = "user"
    """The account's column: ``user`` in SQLite's table (as ever), ``account`` in PostgreSQL's (reserved there)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        with contextlib.closing(outbox.connect(db_path)) as conn:
            conn.execute(SCHEMA)
            columns = {r["name"] for r in conn.execute("PRAGMA table_info(console_session)")}
            if "credential" not in columns:  # a table from before fingerprints: its sessions end at their next use
                conn.execute("ALTER TABLE console_session ADD COLUMN credential TEXT NOT NULL DEFAULT ''")

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Any]:
        with contextlib.closing(outbox.connect(self.db_path)) as conn:
            yield conn

    def add(self, session: Session, credential: str) -> None:
        """Record a new login with its account's fingerprint; sessions that expired meanwhile are dropped on the
        way (the table stays small). Two statements, each its own transaction: the expired rows are gone either way."""
        with self._conn() as conn:
            conn.execute("DELETE FROM console_session WHERE expires < ?", (time.time(),))
            conn.execute(f"INSERT INTO console_session (nonce_sha256, {self.ACCOUNT}, role, created, expires, "
                         "credential) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (nonce_sha256) DO NOTHING",
                         (_key(session.nonce), session.user, session.role, time.time(), session.expires, credential))

    def check(self, session: Session, credential: str | None) -> str:
        """:data:`LIVE` while the session was not ended (same account and role, not expired, not logged out) and
        its account's fingerprint is still ``credential``; else the row of a changed (or removed: ``None``)
        account is deleted here, :data:`REVOKED`; :data:`GONE` when there is no live row at all."""
        with self._conn() as conn:
            row = conn.execute(f"SELECT {self.ACCOUNT} AS account, role, expires, credential FROM console_session"
                               " WHERE nonce_sha256 = ?", (_key(session.nonce),)).fetchone()
            if row is None or row["account"] != session.user or row["role"] != session.role \
                    or row["expires"] < time.time():
                return GONE
            if credential is not None and hmac.compare_digest(row["credential"].encode(), credential.encode()):
                return LIVE
            conn.execute("DELETE FROM console_session WHERE nonce_sha256 = ?", (_key(session.nonce),))
            return REVOKED

    def end(self, session: Session) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM console_session WHERE nonce_sha256 = ?", (_key(session.nonce),))


class PgSessionStore(SessionStore):
    """The same sessions in a PostgreSQL store's ``console_session`` (schema 0010): one table for every replica, so
    a login on one is live on all and a logout on one ends it on all. Each replica must sign with the same
    ``console.secret`` (a cookie signed by another is refused before its row is looked up)."""

    ACCOUNT = "account"

    def __init__(self, source: Any) -> None:
        self.source = source

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Any]:
        with self.source.writing() as conn:
            yield conn


def session_store(db_path: Path, source: Any) -> SessionStore:
    """The store's table on PostgreSQL (``source`` writes there), else the SQLite outbox file's."""
    from .source import PgSource

    return PgSessionStore(source) if isinstance(source, PgSource) else SessionStore(db_path)
