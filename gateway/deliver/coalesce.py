"""Work asked for again and again, done at most once more than it is under way.

Why: a replica hears a NOTIFY for each change another process commits (gateway/pgstore/notify.py); a read of the
store per notification would queue thousands of reads behind the replica's own writes in a flood (another client's
``pg_notify`` loop, session 29). Whatever those notifications ask for, one run that starts after the last of them
answers all: so one run under way, and at most one more queued after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class OneMore:
    """``ask()`` starts ``work`` through ``start`` (which runs a coroutine in the background); asks while it runs
    make one more run after it, not one each."""

    def __init__(self, work: Callable[[], Awaitable[None]], start: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        self.work, self.start = work, start
        self.asked = 0
        """Runs asked for and not done: 0, 1 (under way) or 2 (one more after it)."""

    def ask(self) -> None:
        if self.asked < 2:
            self.asked += 1
            if self.asked == 1:
                self.start(self._runs())

    async def _runs(self) -> None:
        try:
            while self.asked:
                await self.work()
                self.asked -= 1
        finally:  # an error ends the runs: the next ask starts them again
            self.asked = 0
