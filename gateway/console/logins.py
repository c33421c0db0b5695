"""The password checks of the login form: on a thread of their own, a few at a time.

A check is PBKDF2 (200,000 rounds, ~0.1 s of a core) that anyone who can reach the login page may ask for. Run
on the event loop's shared thread pool, a flood of logins queued in front of the sidecar's own work there: with 300
connections posting wrong passwords, ``/readyz`` took 34–49 s and a SOAP message with a header block 33–43 s
(session 24's review). Here the checks run on one thread, at most :data:`WAITING` asked at once; the rest are
answered "busy" at once, without hashing, so a flood costs the sidecar one core at most and never its pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

WAITING = 4
"""Checks running or queued at once; a login beyond them is told to try again (a person never meets this)."""


class Busy(Exception):
    """Too many password checks are asked at once: the login is refused unchecked, to be tried again."""


class LoginChecks:
    """Runs password checks on one thread of their own, refusing any beyond :data:`WAITING` at once."""

    def __init__(self, waiting: int = WAITING) -> None:
        self.waiting = waiting
        self.asked = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-login")

    async def run(self, check: Callable[..., T], *args: object) -> T:
        """``check(*args)`` on the login thread, or :class:`Busy` when :data:`WAITING` checks are asked already."""
        if self.asked >= self.waiting:
            raise Busy
        self.asked += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, check, *args)
        finally:
            self.asked -= 1
