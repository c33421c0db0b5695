"""What the conversion worker pool's tests run in its workers, apart from the tests: a spawned worker imports the
module its functions live in, and the test module's own imports (pytest, the HTTP helpers) cost each worker about a
second of CPU, which on a loaded host made every replacement slow enough to outlast a test's bound."""

from __future__ import annotations

import os
import time
from pathlib import Path


def init(marker: str) -> None:
    """The worker's initialiser: remembers what it was started with (a reload starts workers anew)."""
    os.environ["TEST_WORKER_MARKER"] = marker


def work(value: int, pause: float = 0.0) -> tuple[int, int, str]:
    """Square ``value`` in the worker; -1 ends the worker process abruptly, -2 raises, -3 holds the GIL in one C call
    for ~30 s (as lxml did reading 100,000 attributes: no signal handler and no thread of the worker runs)."""
    if value == -1:
        os._exit(3)
    if value == -3:
        sum(range(2_000_000_000))
    if value == -2:
        raise ValueError("broken on purpose")
    time.sleep(pause)
    return value * value, os.getpid(), os.environ.get("TEST_WORKER_MARKER", "")


def held(gate: str, value: int) -> tuple[int, int, str]:
    """Work that lasts until the file ``gate`` exists (at most 120 s): busy for as long as the test needs on a host
    of any speed, where a fixed pause could end before the test got to look."""
    deadline = time.monotonic() + 120
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return work(value)


HOARD: list[bytearray] = []


def grow(value: int, megabytes: int) -> tuple[int, int]:
    """Keep ``megabytes`` more of touched memory in the worker (as libxml2 keeps names), then answer."""
    HOARD.append(bytearray(b"x" * (megabytes << 20)))
    return value, os.getpid()


def init_slow(marker: str) -> None:
    """An initialiser that takes a while, as compiling the mappings does: the old mappings longer than the new."""
    time.sleep(2.0 if marker == "old" else 0.2)
    os.environ["TEST_WORKER_MARKER"] = marker


def grow_marked(value: int, megabytes: int) -> tuple[int, int, str]:
    """:func:`grow`, answering also which initialiser's worker ran it."""
    grow(value, megabytes)
    return value, os.getpid(), os.environ.get("TEST_WORKER_MARKER", "")


def warmth() -> tuple[int, dict[str, int]]:
    """This sidecar worker's pid and what is still cold in it (gateway.proxy.converting.worker_warmth)."""
    from gateway.proxy.converting import worker_warmth

    return os.getpid(), worker_warmth()


def validating() -> tuple[dict[str, bool | str], int]:
    """This sidecar worker's validation per route, and how many official schemas it compiled with lxml."""
    from gateway import reference
    from gateway.proxy.converting import _worker_converters

    return {name: c.validate for name, c in _worker_converters.items()}, len(reference._schemas)


def modules() -> list[str]:
    """The modules this worker has imported: what a message sent after it imports shows as the difference."""
    import sys

    return sorted(sys.modules)


def converters() -> dict[str, tuple[object, ...]]:
    """What each sidecar converter of this worker was built with: profile, mappings, validation, body limit and
    render settings (a frozen dataclass, compared whole)."""
    from gateway.proxy.converting import _worker_converters

    return {name: (c.profile, [m.name for m in c.only], c.validate, c.max_bytes, c.settings)
            for name, c in _worker_converters.items()}
