"""Whether a sidecar serves a SQLite outbox right now: a lock on a file beside it, held while the sidecar runs.

Why: on SQLite the sidecar renders each message against the zaak ledger *ahead of* its commit (staged writes,
gateway/ledger/staged.py). Another process rendering against the same ledger meanwhile (``overstap outbox replay
--quarantined``) reads the state the sidecar is about to replace, and both render the zaak from it: the receiver
got two creeerZaak for one zaak. So the sidecar holds a shared ``flock`` on ``outbox.sqlite3.serving`` for as long
as it runs, and such a command takes it exclusively without waiting, or is refused. The kernel drops the lock with
the process (SIGKILL too): no stale lease to clear. On PostgreSQL every replica renders inside the store's write
lock (gateway/proxy/shared_stage.py), so a command there takes its turn like a replica and needs no lock file.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("overstap.outbox")
SUFFIX = ".serving"


class SidecarServing(RuntimeError):
    """A sidecar serves the store: the command would render against a ledger the sidecar renders ahead of."""


def lock_path(db_path: Path) -> Path:
    """The lock file of the outbox ``db_path`` (beside it, in the data dir)."""
    return db_path.with_name(db_path.name + SUFFIX)


def _open(db_path: Path) -> int:
    return os.open(lock_path(db_path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class Serving:
    """The sidecar's hold on its SQLite outbox; :meth:`release` at stop (the process's end releases it anyway)."""

    def __init__(self, db_path: Path) -> None:
        self._fd = _open(db_path)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # an `overstap outbox` command is rendering against the ledger: it ends soon
            log.info("waiting for an `overstap outbox` command on %s to finish", db_path)
            fcntl.flock(self._fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(self._fd)
            raise

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops its flock
            self._fd = -1


@contextmanager
def alone(db_path: Path, why: str) -> Iterator[None]:
    """Hold the outbox ``db_path`` exclusively for the block; :class:`SidecarServing` (naming ``why`` the command
    cannot run beside it) when a sidecar serves it. A sidecar starting meanwhile waits for the block to end."""
    fd = _open(db_path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SidecarServing(f"a sidecar is serving {db_path.parent} ({lock_path(db_path).name} is held): {why}"
                                 ) from None
        yield
    finally:
        os.close(fd)
