"""An injected clock for the Converter: tests that check tijdstipBericht know every reading in advance."""

from __future__ import annotations

import datetime as dt


class StepClock:
    """A fixed moment that moves on one second per reading, as a real clock would between messages."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 12, 4, 12, 0, 0)) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now
