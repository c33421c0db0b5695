"""Opening the SQLite outbox to look at it, never to change it: ``outbox list``/``show``, ``shadow report``,
``store.existing``'s check, the forwarder's read of an import's mark.

Why its own module: SQLite's plain read-only open (``mode=ro``) is not enough for an outbox in WAL mode. It makes
``-wal`` and ``-shm`` beside a database that had none and, being read-only, cannot remove them when it closes; and in
a folder it may not write (the sidecar stopped cleanly, the folder 555 and its files 444) it cannot make them, so it
cannot open the database at all (SQLITE_READONLY_DIRECTORY). SQLite documents both (wal.html, "Read-Only
Databases"): a read-only WAL database opens when its -shm and -wal exist or can be made, or when it is opened as
immutable. So the connection is chosen by what lies beside the file.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SIDE_FILES = ("-wal", "-shm", "-journal")
"""What SQLite keeps beside a database while it is in use, or after a writer stopped hard."""


def connect_read_only(path: Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection that changes nothing where it looks, and leaves the folder with the file names it had.

    * A -wal, -shm or -journal beside the file (a sidecar at work, or one that stopped hard): SQLite's ``mode=ro``,
      which reads through them and leaves them as they are.
    * None, and the file and its folder writable: opened read-write with ``query_only`` (no statement can write):
      its -wal and -shm are made for the read and removed again when it closes, as the last connection does.
    * None, and the file or its folder read-only: ``immutable``. Nobody can be writing it (a writer would have to
      make a -wal there), and it is the only way SQLite opens a WAL database without its -shm.
    """
    resolved = path.resolve()
    busy = any(resolved.with_name(resolved.name + side).exists() for side in SIDE_FILES)
    if busy:
        query = "mode=ro"
    elif os.access(resolved, os.W_OK) and os.access(resolved.parent, os.W_OK):
        query = "mode=rw"
    else:
        query = "mode=ro&immutable=1"
    conn = sqlite3.connect(f"{resolved.as_uri()}?{query}", uri=True, timeout=timeout, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only=ON")
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


def unreadable(path: Path, exc: sqlite3.OperationalError) -> str:
    """Why the outbox at ``path`` could not be read, said as the folder's or file's permissions where they are the
    cause (never "not an outbox": nothing is wrong with the file)."""
    name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
    if not os.access(path, os.R_OK) or not os.access(path.parent, os.R_OK | os.X_OK):
        return (f"{path}: cannot read the outbox: the file or its folder is not readable for this user (SQLite says "
                f"{name}); run as the sidecar's user or make them readable")
    if not os.access(path.parent, os.W_OK):
        return (f"{path}: cannot read the outbox: its folder {path.parent} is not writable and SQLite needs to make "
                f"or write its -shm/-wal there (SQLite says {name}; a sidecar that stopped hard leaves a -wal to fold "
                "in); run as the sidecar's user, or start the sidecar once so it stops cleanly")
    return f"{path}: cannot read the outbox: SQLite says {name}"
