"""Who reads the ZIP members of the chunks to come: the parent while it waits for the workers, else the workers.

Why: reading a member (seek, inflate, CRC) costs ~18 µs. With one worker on two cores the worker is often the
slower process and the parent idles between its results: a member the parent reads is taken off the run's
slowest path (this project's 2-core VM, one worker: 4,646-4,795 against 4,415-4,532 msg/s, docs/performance.md).
Where the parent, which renders every message in order, is the slower one (more cores and workers, or another
mix of messages), reads belong to the workers. Which process is slower changes with the machine, the messages
and the moment, so it is measured as the run goes: the share of the last chunks' time the parent spent waiting
for a result. (Two workers on two cores: the parent still waits a little and reads most chunks; the same
throughput either way, within the noise.)
"""

from __future__ import annotations

import time

from .inputs import ZipRef, member_bytes
from .work import Chunk

START_READING = 0.05
"""The parent reads once it waited for more than this share of the last window: it has time to spare."""
STOP_READING = 0.005
"""It hands reads back once it waited for less than this share: it is the slower process now. The gap keeps a
balance (the parent reading and still waiting a little) from flipping back and forth."""
WINDOW = 16
"""Chunks (~1,000 messages, a quarter of a second) between two looks."""


class ReadPlacement:
    """The running decision, fed with the parent's waits for results and the chunks handed back."""

    __slots__ = ("_chunks", "_since", "_waited", "parent_reads", "switches")

    def __init__(self, parent_reads: bool = False) -> None:
        self.parent_reads = parent_reads
        """Whether the parent reads the members of the chunks it submits now."""
        self.switches = 0
        self._waited = 0.0
        self._chunks = 0
        self._since = time.monotonic()

    def waited(self, seconds: float) -> None:
        self._waited += seconds

    def handed_back(self) -> None:
        """One chunk's result went to the caller; every :data:`WINDOW` of them the placement is looked at again."""
        self._chunks += 1
        if self._chunks < WINDOW:
            return
        now = time.monotonic()
        share = self._waited / max(now - self._since, 1e-9)
        reads = share > START_READING if not self.parent_reads else share >= STOP_READING
        self.switches += reads != self.parent_reads
        self.parent_reads = reads
        self._chunks, self._waited, self._since = 0, 0.0, now


def read_here(chunk: Chunk, limit: int) -> Chunk:
    """``chunk`` with every ZIP member read in this process: its bytes, or why they cannot be had (the worker then
    quarantines it as it would have after reading it itself)."""
    members = []
    for key, data, problem, whole in chunk.members:
        if data.__class__ is ZipRef:
            data, problem = member_bytes(data, limit)
        members.append((key, data, problem, whole))
    return Chunk(chunk.first, members)
