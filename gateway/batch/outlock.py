"""One run at a time in an OUT: an exclusive lock on OUT's work folder for as long as the run holds it.

Why: ``--resume`` is how a restarted job continues (a Kubernetes Job whose old pod still runs, a cron run that
overlaps the last): without a lock the second run truncated the first's journal and archive to their last commit
while the first kept appending, and both exited 0 over a corrupt OUT and a ledger applied twice. ``flock`` on
the folder itself: nothing to create or clean up, and the kernel lets go when the process ends, however it ends.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock (the batch forks its workers on Linux anyway)
    fcntl = None  # type: ignore[assignment]


class OutInUse(RuntimeError):
    """Another process holds OUT's work folder."""


class OutLock:
    """Held from :meth:`take` until :meth:`release` (or the process's end)."""

    def __init__(self) -> None:
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def take(self, folder: Path) -> None:
        """Lock ``folder`` (which must exist) or raise :class:`OutInUse` at once: a second run never waits."""
        if self._fd is not None or fcntl is None:
            return
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutInUse(f"another run is using {folder}: wait for it to end, or stop it first") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
