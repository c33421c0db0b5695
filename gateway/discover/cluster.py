"""Clusters: messages that look alike, summed up in bounded counters.

A cluster is keyed by format, namespace, root, the mapping the messages are compared with and
the *way* they deviate from it (a renamed element, another date format ...). Everything kept per
cluster is capped: a few example names, a fixed number of distinct codes per path, a few masked
examples of personal values, so 10 messages and 10 million cost the same memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from .compare import Summary
from .expect import Tags
from .profile import Profile

MAX_EXAMPLES = 5
MAX_CODES = 40
MAX_SHAPES = 12
MAX_MASKED = 3
MAX_REASONS = 12


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
    if prof.fmt == "unreadable":
        return "unreadable"
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

    @classmethod
    def start(cls, prof: Profile) -> Cluster:
        return cls(cluster_id(prof), prof.fmt, prof.namespace, prof.root, prof.reference, prof.builtin,
                   prof.fingerprint)

    def add(self, prof: Profile) -> None:
        self.messages += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(prof.key)
        for path, count in prof.counts.items():
            self.presence[path] += 1
            self.total[path] += count
            if count > self.most.get(path, 0):
                self.most[path] = count
        for path, shapes in prof.shapes.items():
            mine = self.shapes.setdefault(path, Counter())
            for found, n in shapes.items():
                if found in mine or len(mine) < MAX_SHAPES:
                    mine[found] += n
        for path, texts in prof.values.items():
            codes = self.codes.setdefault(path, Counter())
            for text in texts:
                if not _bump(codes, text, MAX_CODES):
                    self.overflow.add(path)
        for path, hidden in prof.masked.items():
            got = self.masked.setdefault(path, [])
            if len(got) < MAX_MASKED and hidden not in got:
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

    def merge(self, other: Cluster) -> None:
        """Add another summary of the same cluster (a worker's chunk), keeping every cap."""
        self.messages += other.messages
        self.examples += other.examples[: MAX_EXAMPLES - len(self.examples)]
        self.presence.update(other.presence)
        self.total.update(other.total)
        for path, n in other.most.items():
            self.most[path] = max(n, self.most.get(path, 0))
        for mine, theirs, cap in ((self.shapes, other.shapes, MAX_SHAPES), (self.codes, other.codes, MAX_CODES)):
            for path, counter in theirs.items():
                into = mine.setdefault(path, Counter())
                for value, n in counter.items():
                    if not _bump(into, value, cap):
                        self.overflow.add(path)
                    else:
                        into[value] += n - 1
        self.overflow |= other.overflow
        for path, hidden in other.masked.items():
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

    def summary(self) -> Summary:
        return Summary(self.messages, dict(self.presence), self.shapes, self.codes)

    def minimum(self, path: Tags) -> int:
        """Fewest occurrences in one message (0 when some message lacks the path; else at least 1)."""
        return 0 if self.presence[path] < self.messages else 1
