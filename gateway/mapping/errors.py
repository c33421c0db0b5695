"""Errors of the mapping layer: a mapping file that is wrong, and a message that does not fit it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .loader import file_of, location
from .privacy import cap

MAX_ERRORS = 20
"""Independent errors of one message reported at once; the rest are counted (``and N more``)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a mapping file, located as ``file:line:column``."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{hint}"


class MappingError(Exception):
    """A mapping file that cannot be compiled; it is refused whole, never half-loaded."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class ConversionError(ValueError):
    """A message that does not fit its mapping or the canonical model.

    ``field`` is the canonical field (``clients.0.bsn``), ``path`` the source element it came from,
    ``line`` the source line; ``code`` is the StUF fault code the proxy answers with. A message with several
    independent errors raises its first, carrying the next ones in ``others`` (at most :data:`MAX_ERRORS` in
    all) and how many more were left out in ``left_out``, so one run names them all.
    """

    others: tuple[ConversionError, ...] = ()
    left_out: int = 0

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        path: str | None = None,
        line: int | None = None,
        source: str = "<input>",
        code: str = "StUF055",
    ) -> None:
        message = cap(message)  # errors are stored and sent: never unbounded
        super().__init__(message)
        self.message = message
        self.field = field
        self.path = path
        self.line = line
        self.source = source
        self.code = code

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        what = self.field or ""
        if self.path:
            what = f"{what} <- {self.path}" if what else self.path
        more = len(self.others) + self.left_out
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return f"{where}: {what + ': ' if what else ''}{self.message}{tail}"


def combined(errors: Sequence[ConversionError], total: int | None = None) -> ConversionError:
    """One error to raise for a message's independent ``errors`` (``total`` of them were found): the first,
    carrying the others up to :data:`MAX_ERRORS` and the count of the rest."""
    first = errors[0]
    first.others = tuple(errors[1:MAX_ERRORS])
    first.left_out = max(0, (len(errors) if total is None else total) - 1 - len(first.others))
    return first


class Refused(ConversionError):
    """A message the picked mapping recognises and refuses on purpose (``refuse: REASON``): an outcome of
    its own, counted apart from failures in convert, batch and the sidecar's Fo03."""

    def __init__(self, mapping: str, reason: str, *, source: str = "<input>", line: int | None = None) -> None:
        super().__init__(f"refused by mapping {mapping!r}: {reason}", field="refuse", line=line, source=source)
        self.mapping = mapping
        self.reason = reason


def suggest(word: str, options: Iterable[str]) -> str | None:
    """A "did you mean" for a misspelt key, name or code, when one option is close enough."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


class Collector:
    """Gathers every problem of a mapping file, each at its ``file:line:column``: a file is refused whole."""

    def __init__(self, default_file: str) -> None:
        self.problems: list[Problem] = []
        self.default_file = default_file

    def add(self, node: Any, key: Any, message: str, hint: str | None = None, *, value: bool = False) -> None:
        line, col = location(node, key, value=value)
        self.problems.append(Problem(file_of(node, self.default_file), line, col, message, hint))
