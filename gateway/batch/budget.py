"""The quarantine budget: how many failed inputs (and how many of their bytes) are copied out at most.

Failed inputs are copied into ``quarantine/`` so people can look at them, but a hostile archive
can fail on purpose: thousands of names for one large compressed member would otherwise write
gigabytes. Past the budget a failed input is still reported (its report line says why it was not
copied); only the copy is left out. The counters live in shared memory so every worker process
draws on the one budget; the journal carries what was used, so a resumed run goes on from there.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_FILES = 100_000
DEFAULT_MAX_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    max_files: int = DEFAULT_MAX_FILES
    max_bytes: int = DEFAULT_MAX_BYTES


class Budget:
    """Shared counters of quarantined files and bytes; :meth:`take` claims room for one more copy."""

    def __init__(self, limits: Limits, files: int = 0, nbytes: int = 0, context: Any = None) -> None:
        ctx = context or multiprocessing.get_context()
        self.limits = limits
        self._lock = ctx.Lock()
        self._files = ctx.RawValue("q", files)
        self._bytes = ctx.RawValue("q", nbytes)

    def take(self, nbytes: int) -> bool:
        """True (and counted) when one more copy of ``nbytes`` fits the budget; False when it does not."""
        with self._lock:
            if self._files.value + 1 > self.limits.max_files or self._bytes.value + nbytes > self.limits.max_bytes:
                return False
            self._files.value += 1
            self._bytes.value += nbytes
            return True

    def refusal(self) -> str:
        return (f"not copied to quarantine: the quarantine budget ({self.limits.max_files:,} files, "
                f"{self.limits.max_bytes:,} bytes) is used up")
