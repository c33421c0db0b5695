"""What mapping one message produces and carries along: the canonical data with its warnings, unmapped
values and lineage, and the per-message state the walk fills (what was read, what failed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.model import Bericht

from .attributes import Attr
from .errors import MAX_ERRORS, ConversionError
from .rules import FieldRule

_Element = etree._Element


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where one canonical value came from."""

    field: str
    rule: FieldRule
    line: int | None
    source: str | None
    raw: Any
    value: Any


@dataclass(frozen=True, slots=True)
class Warning_:
    """A deviation accepted under ``strictness: lenient``; counted per mapping and rule (dialect debt)."""

    rule: str
    field: str
    line: int | None
    message: str


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A source element with a value that no rule read and no ``ignore`` entry explains."""

    path: str
    line: int | None


@dataclass(slots=True)
class MapResult:
    bericht: Bericht
    data: dict[str, Any]
    warnings: list[Warning_] = field(default_factory=list)
    unmapped: list[Unmapped] = field(default_factory=list)
    lineage: list[Lineage] = field(default_factory=list)
    groups: dict[str, int | None] = field(default_factory=dict)


class MapState:
    """One message's walk: what it read (for the unmapped check), its lineage when traced, its errors."""

    __slots__ = ("attrs", "consumed", "errors", "failed", "groups", "index", "lenient", "lineage", "native",
                 "source", "spots", "trace", "track", "warnings")

    def __init__(self, source: str, trace: bool, track: bool, lenient: bool) -> None:
        self.source = source
        self.trace = trace
        self.track = track
        self.lenient = lenient
        self.consumed: set[_Element] = set()
        self.attrs: set[Attr] = set()  # attributes a rule read, as (element, Clark name)
        self.spots: list[_Element] = []
        """What the untraced walk did not account for itself: children it skipped, elements whose children it
        did not walk, leaves its rules read later. Nothing left in them: nothing unmapped (see unmapped.py)."""
        self.native: Any = None
        """The native walk's own record of the same (``_native.Track``: node pointers, no proxies), if it ran."""
        self.warnings: list[Warning_] = []
        self.lineage: list[Lineage] = []
        self.groups: dict[str, int | None] = {}
        self.index: dict[Any, dict[Any, list[Any]]] = {}
        self.errors: list[ConversionError] = []  # independent errors of rules, the first MAX_ERRORS of them
        self.failed = 0  # how many rules failed in all

    def fail(self, exc: ConversionError) -> None:
        """A rule that cannot give its value: noted, and the walk goes on to find the message's other errors."""
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(exc)
