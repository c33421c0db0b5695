"""The server-side session store: a logout ends a session for every copy of its cookie.

A signed cookie alone cannot be taken back: a copy stays valid until it expires. So every login writes a row
to ``console_session`` in the outbox database (on a PostgreSQL store: in :data:`OWN_FILE`, the console's own
file in data_dir; the console's only write besides its indexes and a purge), every request
checks that the row is still there, and logout deletes it. The row holds a SHA-256 of the session's nonce,
never the nonce itself: someone who can read the database file cannot rebuild a cookie from it (and without
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
from pathlib import Path

from gateway.deliver import outbox

from .auth import Session

SCHEMA = ("CREATE TABLE IF NOT EXISTS console_session (nonce_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
          "role TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL, credential TEXT NOT NULL DEFAULT '')")
OWN_FILE = "console.sqlite3"
"""On a PostgreSQL store, the console's sessions live in this SQLite file in the replica's data_dir, not in the shared
database: the store's schema stays the replicas' (no table outside its revisions), and a session signed by one replica
is only ever checked by it (each replica's ``console.secret`` may differ). A logout there ends the session at once."""
LIVE, GONE, REVOKED = "live", "gone", "revoked"
"""What :meth:`SessionStore.check` finds: a live session; none (logged out, expired, never there); or one whose
account changed since its login, ended just now."""


def _key(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class SessionStore:
    """Live sessions by nonce hash; blocking SQLite calls (the console runs them in a thread)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        with contextlib.closing(outbox.connect(db_path)) as conn:
            conn.execute(SCHEMA)
            columns = {r["name"] for r in conn.execute("PRAGMA table_info(console_session)")}
            if "credential" not in columns:  # a table from before fingerprints: its sessions end at their next use
                conn.execute("ALTER TABLE console_session ADD COLUMN credential TEXT NOT NULL DEFAULT ''")

    def add(self, session: Session, credential: str) -> None:
        """Record a new login with its account's fingerprint; sessions that expired meanwhile are dropped on the
        way (the table stays small)."""
        with contextlib.closing(outbox.connect(self.db_path)) as conn, outbox.transaction(conn):
            conn.execute("DELETE FROM console_session WHERE expires < ?", (time.time(),))
            conn.execute("INSERT OR REPLACE INTO console_session (nonce_sha256, user, role, created, expires, "
                         "credential) VALUES (?, ?, ?, ?, ?, ?)", (_key(session.nonce), session.user, session.role,
                                                                  time.time(), session.expires, credential))

    def check(self, session: Session, credential: str | None) -> str:
        """:data:`LIVE` while the session was not ended (same account and role, not expired, not logged out) and
        its account's fingerprint is still ``credential``; else the row of a changed (or removed: ``None``)
        account is deleted here, :data:`REVOKED`; :data:`GONE` when there is no live row at all."""
        with contextlib.closing(outbox.connect(self.db_path)) as conn:
            row = conn.execute("SELECT user, role, expires, credential FROM console_session WHERE nonce_sha256 = ?",
                               (_key(session.nonce),)).fetchone()
            if row is None or row["user"] != session.user or row["role"] != session.role \
                    or row["expires"] < time.time():
                return GONE
            if credential is not None and hmac.compare_digest(row["credential"].encode(), credential.encode()):
                return LIVE
            conn.execute("DELETE FROM console_session WHERE nonce_sha256 = ?", (_key(session.nonce),))
            return REVOKED

    def end(self, session: Session) -> None:
        with contextlib.closing(outbox.connect(self.db_path)) as conn:
            conn.execute("DELETE FROM console_session WHERE nonce_sha256 = ?", (_key(session.nonce),))
