"""How far a long-lived converting process has grown since it started, so it can be replaced between messages.

Why: libxml2 interns every element name and namespace URI it parses in a dictionary that lxml keeps per thread
and frees only when the thread ends. A sender who puts fresh names in every message grows such a process without
bound (measured: 4 MB messages of 400,000 fresh names, ~17 MB a message, 1.45 GB after 82 of them), and once the
dictionary is full libxml2 refuses every later message, ordinary ones too. So the sidecar's and the batch's worker
processes, and without workers the sidecar's conversion threads, are replaced once they have grown by more than an
allowance: the growth stays bounded whatever its cause, and the output does not depend on it.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from collections.abc import Callable

DEFAULT_GROWTH_MB = 256
"""A worker grown by more than this since it started is replaced (0 or None: never). A worker converting
ordinary messages grows by a few MB; one 25 MB GGk envelope by ~100 MB while it is held."""
MB = 1 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """This process's resident memory now, from /proc (~2 µs, so it can be asked after every message).

    Not ``getrusage``'s peak: a spawned worker inherits its parent's peak through ``exec``, which would hide
    its own growth up to the parent's size. Where /proc is absent the peak is the best there is."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)  # opened each time: after a fork a kept one is the parent's
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere
    try:
        return int(os.read(fd, 128).split()[1]) * _PAGE
    finally:
        os.close(fd)


def _load_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``; None elsewhere (musl, macOS), where freed memory is left as the allocator keeps it."""
    try:  # the process's own symbols: libc is loaded already, and no search (find_library runs a subprocess)
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


_TRIM = _load_trim()


def give_back() -> None:
    """Return freed heap to the system, from every thread's arena.

    Why: a thread that ends frees its name dictionary into its malloc arena, and glibc keeps much of that in the
    process. Without this, part of what the replaced threads freed stayed resident (30 of 50 MB, varying by host),
    and the next allowance was measured on top of it: the baseline crept upward renewal by renewal."""
    if _TRIM is not None:
        _TRIM(0)


class Allowance:
    """How far a process's resident memory may grow from where it stood when this was made (after start-up)."""

    def __init__(self, growth_mb: int | None) -> None:
        self.limit = growth_mb * MB if growth_mb else 0
        self.baseline = resident_bytes() if self.limit else 0

    def exceeded(self) -> bool:
        """Grown by more than the allowance (never, without one)."""
        return bool(self.limit) and resident_bytes() - self.baseline > self.limit
