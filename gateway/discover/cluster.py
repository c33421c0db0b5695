"""Clusters: messages that look alike, summed up in bounded counters.

A cluster is keyed by format, namespace, root, the mapping the messages are compared with and
the *way* they deviate from it (a renamed element, another date format ...). Everything kept per
cluster is capped: a few example names, at most :data:`MAX_PATHS` distinct paths (the rest counted
in ``skipped``), a fixed number of distinct codes and shapes per path, a few masked examples of
personal values. A run keeps at most :data:`MAX_CLUSTERS` clusters and :data:`MAX_TOTAL_PATHS`
paths over all of them (plus :data:`MIN_PATHS` per cluster; `gateway.discover.run.Discovery`), so
once those caps are reached 10 messages and 10 million cost the same memory: measured in
docs/performance.md ("Hostile archives" under "Discover").
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from .compare import Summary
from .expect import Tags
from .profile import MAX_PATHS, Profile

MAX_EXAMPLES = 5
MAX_CODES = 40
MAX_SHAPES = 12
MAX_MASKED = 3
MAX_REASONS = 12
MAX_CLUSTERS = 100
"""Clusters one run keeps; a message of a cluster past it is only counted (a real archive has a few dozen)."""
MAX_TOTAL_PATHS = 20_000
"""Distinct paths one run keeps over all its clusters (real clusters have 60 to 170): bounds memory and report."""
MIN_PATHS = 200
"""Paths every cluster may keep even when the run's budget is spent, so ten hostile messages that come first
cannot leave the real dialects after them unprofiled (a real cluster has at most 170)."""


def _bump(counter: Counter[str], value: str, cap: int) -> bool:
    """Count ``value`` unless ``cap`` distinct values are already counted; False when it was dropped."""
    if value in counter or len(counter) < cap:
        counter[value] += 1
        return True
    return False


def cluster_key(prof: Profile) -> tuple[str, ...]:
    return (prof.fmt, prof.namespace, prof.root, prof.reference or "", *prof.fingerprint)


def cluster_id(prof: Profile) -> str:
    """A readable id that stays the same across runs: the mapping's name, plus a hash of how it deviates."""
    if prof.fmt in ("unreadable", "unprofiled"):
        return prof.fmt
    base = prof.reference or f"unknown-{prof.root.lower() or 'root'}"
    if not prof.fingerprint and prof.reference:
        return base
    digest = hashlib.sha1("\n".join(cluster_key(prof)).encode()).hexdigest()[:6]
    return f"{base}~{digest}"


@dataclass(slots=True)
class Cluster:
    """The bounded summary of one cluster of messages."""

    id: str
    fmt: str
    namespace: str
    root: str
    reference: str | None
    builtin: str | None
    fingerprint: tuple[str, ...]
    messages: int = 0
    examples: list[str] = field(default_factory=list)
    presence: Counter[Tags] = field(default_factory=Counter)
    most: dict[Tags, int] = field(default_factory=dict)
    total: Counter[Tags] = field(default_factory=Counter)
    shapes: dict[Tags, Counter[str]] = field(default_factory=dict)
    codes: dict[Tags, Counter[str]] = field(default_factory=dict)
    overflow: set[Tags] = field(default_factory=set)
    masked: dict[Tags, list[str]] = field(default_factory=dict)
    encodings: Counter[str] = field(default_factory=Counter)
    layouts: Counter[str] = field(default_factory=Counter)
    mappings: Counter[str] = field(default_factory=Counter)
    converted: int = 0
    failed: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # paths of its messages past MAX_PATHS (or the run's MAX_TOTAL_PATHS), counted per message

    @classmethod
    def start(cls, prof: Profile) -> Cluster:
        return cls(cluster_id(prof), prof.fmt, prof.namespace, prof.root, prof.reference, prof.builtin,
                   prof.fingerprint)

    def empty(self) -> Cluster:
        """A cluster of the same identity with nothing in it yet (to merge another into, under caps)."""
        return Cluster(self.id, self.fmt, self.namespace, self.root, self.reference, self.builtin, self.fingerprint)

    def _kept(self, paths: Counter[Tags] | dict[Tags, int], room: int) -> tuple[set[Tags], int]:
        """Which of ``paths`` this cluster keeps (those it has, then new ones while there is room) and how many
        new ones that are; ``room`` is what the run may still take, at least :data:`MIN_PATHS` and at most
        :data:`MAX_PATHS` in all here."""
        room = min(max(room, MIN_PATHS - len(self.presence)), MAX_PATHS - len(self.presence))
        new = [p for p in paths if p not in self.presence][: max(room, 0)]
        return {p for p in paths if p in self.presence} | set(new), len(new)

    def add(self, prof: Profile, room: int = MAX_PATHS) -> int:
        """Count one message in; returns how many paths were new (the run's budget spent)."""
        self.messages += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(prof.key)
        kept, new = self._kept(prof.counts, room)
        self.skipped += len(prof.counts) - len(kept)
        for path, count in prof.counts.items():
            if path in kept:
                self.presence[path] += 1
                self.total[path] += count
                if count > self.most.get(path, 0):
                    self.most[path] = count
        for path, shapes in prof.shapes.items():
            if path not in kept:
                continue
            mine = self.shapes.setdefault(path, Counter())
            for found, n in shapes.items():
                if found in mine or len(mine) < MAX_SHAPES:
                    mine[found] += n
        for path, texts in prof.values.items():
            if path in kept:
                codes = self.codes.setdefault(path, Counter())
                for text in texts:
                    if not _bump(codes, text, MAX_CODES):
                        self.overflow.add(path)
        for path, hidden in prof.masked.items():
            got = self.masked.setdefault(path, []) if path in kept else None
            if got is not None and len(got) < MAX_MASKED and hidden not in got:
                got.append(hidden)
        if prof.encoding:
            self.encodings[prof.encoding] += 1
        for record in prof.layout:
            _bump(self.layouts, record, MAX_CODES)
        if prof.mapping:
            self.mappings[prof.mapping] += 1
        if prof.converted:
            self.converted += 1
        elif prof.problem:
            self.failed += prof.converted is False or prof.fmt == "unreadable" or not prof.mapping
            _bump(self.problems, prof.problem, MAX_REASONS)
        for warning in prof.warnings:
            _bump(self.warnings, warning, MAX_REASONS)
        return new

    def merge(self, other: Cluster, room: int = MAX_PATHS) -> int:
        """Add another summary of the same cluster (a worker's chunk), keeping every cap; returns the new paths."""
        self.messages += other.messages
        self.examples += other.examples[: MAX_EXAMPLES - len(self.examples)]
        kept, new = self._kept(other.presence, room)
        self.skipped += other.skipped + sum(n for p, n in other.presence.items() if p not in kept)
        for path in kept:
            self.presence[path] += other.presence[path]
            self.total[path] += other.total[path]
            self.most[path] = max(other.most.get(path, 0), self.most.get(path, 0))
        for mine, theirs, cap in ((self.shapes, other.shapes, MAX_SHAPES), (self.codes, other.codes, MAX_CODES)):
            for path, counter in theirs.items():
                if path not in kept:
                    continue
                into = mine.setdefault(path, Counter())
                for value, n in counter.items():
                    if not _bump(into, value, cap):
                        self.overflow.add(path)
                    else:
                        into[value] += n - 1
        self.overflow |= other.overflow & kept
        for path, hidden in other.masked.items():
            if path not in kept:
                continue
            got = self.masked.setdefault(path, [])
            got += [h for h in hidden if h not in got][: MAX_MASKED - len(got)]
        self.encodings.update(other.encodings)
        self.mappings.update(other.mappings)
        for mine_c, theirs_c in ((self.layouts, other.layouts), (self.problems, other.problems),
                                 (self.warnings, other.warnings)):
            for value, n in theirs_c.items():
                if _bump(mine_c, value, MAX_REASONS if mine_c is not self.layouts else MAX_CODES):
                    mine_c[value] += n - 1
        self.converted += other.converted
        self.failed += other.failed
        return new

    def summary(self) -> Summary:
        return Summary(self.messages, dict(self.presence), self.shapes, self.codes)

    def minimum(self, path: Tags) -> int:
        """Fewest occurrences in one message (0 when some message lacks the path; else at least 1)."""
        return 0 if self.presence[path] < self.messages else 1
