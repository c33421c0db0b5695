"""Dialect debt: how often each vendor's messages deviate, per mapping and rule.

Under ``strictness: lenient`` a deviation (an unknown code, a schema break, a repeated element)
is converted with a warning instead of rejected. Counting those warnings per mapping and rule gives
each vendor a list of its deviations to fix; the CLI prints it and the proxy can export it as metrics.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable

from .result import Warning_

_INDEX = re.compile(r"\.\d+(?=\.|$)")


def rule_key(warning: Warning_) -> str:
    """The rule a warning belongs to, without item numbers: ``clients[].producten[].omvang.eenheid``."""
    return _INDEX.sub("[]", warning.field)


class DialectDebt:
    """Thread-safe counts of accepted deviations keyed by (mapping name, rule)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._example: dict[tuple[str, str], str] = {}

    def record(self, mapping: str, warnings: Iterable[Warning_]) -> None:
        with self._lock:
            for warning in warnings:
                key = (mapping, rule_key(warning))
                self._counts[key] += 1
                self._example.setdefault(key, warning.message)

    def counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def by_mapping(self) -> dict[str, dict[str, int]]:
        """mapping name -> rule -> count, mappings and rules sorted."""
        out: dict[str, dict[str, int]] = {}
        for (mapping, rule), count in sorted(self.counts().items()):
            out.setdefault(mapping, {})[rule] = count
        return out

    def total(self, mapping: str | None = None) -> int:
        return sum(n for (m, _), n in self.counts().items() if mapping is None or m == mapping)

    def example(self, mapping: str, rule: str) -> str | None:
        """The first warning message seen for this rule (messages never carry a BSN or payload value)."""
        with self._lock:
            return self._example.get((mapping, rule))

    def report(self) -> list[str]:
        """Readable lines: one header per mapping, then one line per rule, most frequent first."""
        lines: list[str] = []
        for mapping, rules in self.by_mapping().items():
            lines.append(f"{mapping}: {sum(rules.values())} deviation(s) accepted (strictness: lenient)")
            for rule, count in sorted(rules.items(), key=lambda item: (-item[1], item[0])):
                lines.append(f"  {count:>6}  {rule}: {self.example(mapping, rule)}")
        return lines

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._example.clear()
