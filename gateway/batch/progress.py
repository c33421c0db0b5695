"""Progress of a batch for the person waiting: a bar on a terminal, periodic lines in logs, or silence.

Counts only (inputs done, failures, rate, ETA); never a message's content, so nothing private
reaches a terminal or a CI log.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

MODES = ("auto", "bar", "lines", "quiet")


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Silent: only the summary at the end (``--quiet``)."""

    def __init__(self, total: int | None = None, start: int = 0) -> None:
        self.total = total
        self.start_count = start
        self.started = time.monotonic()

    def rate(self, done: int) -> float:
        elapsed = time.monotonic() - self.started
        return (done - self.start_count) / elapsed if elapsed > 0 else 0.0

    def eta(self, done: int) -> str:
        rate = self.rate(done)
        if not self.total or rate <= 0 or done >= self.total:
            return "-"
        return _clock((self.total - done) / rate)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, failed: int, final: bool = False) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress(Progress):
    """One plain line every ``interval`` seconds on stderr (logs, CI, Kubernetes)."""

    def __init__(self, total: int | None = None, start: int = 0, interval: float = 10.0,
                 stream: TextIO | None = None) -> None:
        super().__init__(total, start)
        self.interval = interval
        self.stream = stream or sys.stderr
        self._next = self.started + interval

    def update(self, done: int, failed: int, final: bool = False) -> None:
        now = time.monotonic()
        if now >= self._next and not final:
            self._next = now + self.interval
            of = f"/{self.total:,}" if self.total else ""
            self.stream.write(f"batch: {done:,}{of} done, {failed:,} failed, {self.rate(done):,.0f} msg/s, "
                              f"ETA {self.eta(done)}\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


class BarProgress(Progress):
    """A rich progress bar: count, rate, ETA and failures so far."""

    def __init__(self, total: int | None = None, start: int = 0) -> None:
        super().__init__(total, start)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} msg/s"), TextColumn("ETA {task.fields[eta]}"),
            TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(),
            console=Console(stderr=True), transient=False,
        )
        self._task = self._bar.add_task("batch", total=total, completed=start, rate="0", eta="-", failed=0)
        self._bar.start()
        self._last = 0.0

    def update(self, done: int, failed: int, final: bool = False) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and not final:
            return
        self._last = now
        self._bar.update(self._task, completed=done, rate=f"{self.rate(done):,.0f}", eta=self.eta(done),
                         failed=failed)

    def note(self, text: str) -> None:
        self._bar.console.print(text)

    def close(self) -> None:
        self._bar.stop()


def make_progress(mode: str, total: int | None, start: int, interval: float = 10.0) -> Progress:
    """``auto``: a bar on a terminal, lines otherwise."""
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "lines"
    if mode == "bar":
        return BarProgress(total, start)
    if mode == "lines":
        return LineProgress(total, start, interval)
    return Progress(total, start)
