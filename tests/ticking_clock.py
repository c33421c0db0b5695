"""A creation-time clock for tests that feed a receiver: each reading one second later, as between messages."""

from __future__ import annotations

import datetime as dt


class Clock:
    """Creation time that moves on one second per reading, as a real clock would between messages."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 4, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now
