"""The server-side session store: a logout ends a session for every copy of its cookie.

A signed cookie alone cannot be taken back: a copy stays valid until it expires. So every login writes a row
to ``console_session`` in the outbox database (the console's only write besides its indexes), every request
checks that the row is still there, and logout deletes it. The row holds a SHA-256 of the session's nonce,
never the nonce itself: someone who can read the database file cannot rebuild a cookie from it (and without
the signing secret could not sign one anyway). The table lives beside the outbox, so a restart with a
configured secret keeps the sessions that are live and keeps the ended ones ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from pathlib import Path

from gateway.deliver import outbox

from .auth import Session

SCHEMA = ("CREATE TABLE IF NOT EXISTS console_session (nonce_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, "
          "role TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL)")


def _key(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


class SessionStore:
    """Live sessions by nonce hash; blocking SQLite calls (the console runs them in a thread)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        with contextlib.closing(outbox.connect(db_path)) as conn:
            conn.execute(SCHEMA)

    def add(self, session: Session) -> None:
        """Record a new login; sessions that expired meanwhile are dropped on the way (the table stays small)."""
        with contextlib.closing(outbox.connect(self.db_path)) as conn, outbox.transaction(conn):
            conn.execute("DELETE FROM console_session WHERE expires < ?", (time.time(),))
            conn.execute("INSERT OR REPLACE INTO console_session VALUES (?, ?, ?, ?, ?)",
                         (_key(session.nonce), session.user, session.role, time.time(), session.expires))

    def live(self, session: Session) -> bool:
        """True while the session was not ended: same account and role, not expired, not logged out."""
        with contextlib.closing(outbox.connect(self.db_path)) as conn:
            row = conn.execute("SELECT user, role, expires FROM console_session WHERE nonce_sha256 = ?",
                               (_key(session.nonce),)).fetchone()
        return row is not None and row["user"] == session.user and row["role"] == session.role \
            and row["expires"] >= time.time()

    def end(self, session: Session) -> None:
        with contextlib.closing(outbox.connect(self.db_path)) as conn:
            conn.execute("DELETE FROM console_session WHERE nonce_sha256 = ?", (_key(session.nonce),))
