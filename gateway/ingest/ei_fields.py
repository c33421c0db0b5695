"""One EI record's fields: sliced at their positions, checked against their kind, converted to tree text.

Split from :mod:`gateway.ingest.ei`, which reads the file (encoding, lines, records into a tree, counters): this
module knows one field at a time, what its padding is (dialects/ei/README.md, *Blanks and zeros*) and how a
bad value is described without quoting it (a BSN or a name shifted into the wrong positions must not travel
into reports). The EI writer shares the descriptions, so both directions word a problem alike.
"""

from __future__ import annotations

import datetime as _dt
import functools

from .ei_layout import KIND_AN, KIND_DATE, KIND_N, KIND_RESERVE, KIND_TIME, RecordPlan
from .errors import found, shape

__all__ = ["EiError", "date_problem", "link_difference", "record_fields"]


class EiError(ValueError):
    """Bad EI input: what is wrong, on which line (1-based) and in which field (layout name)."""

    def __init__(
        self, message: str, line: int | None = None, field: str | None = None, source: str = "<input>"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field
        self.source = source

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message}"


@functools.lru_cache(maxsize=8192)
def _iso_date(raw: str) -> str | None:
    """``YYYYMMDD`` as ``YYYY-MM-DD`` when it is a real date, else None (cached: a file repeats its dates)."""
    if len(raw) != 8 or not (raw.isdigit() and raw.isascii()):
        return None
    try:
        _dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"


def _iso_time(raw: str) -> str | None:
    """``HHMMSS`` as ``HH:MM:SS`` when it is a real time of day, else None."""
    if len(raw) != 6 or not (raw.isdigit() and raw.isascii()):
        return None
    if int(raw[:2]) > 23 or int(raw[2:4]) > 59 or int(raw[4:]) > 59:
        return None
    return f"{raw[:2]}:{raw[2:4]}:{raw[4:]}"


def record_fields(plan: RecordPlan, line: str, lineno: int, source: str) -> dict[str, str]:
    """Slice, check and convert the fields of one record; empty fields are left out."""
    values: dict[str, str] = {}
    for name, s, e, kind, zeros, strip, fixed, maxv, where in plan.ops:
        raw = line[s:e]
        if fixed is not None and raw != fixed:
            raise EiError(f"{name} ({where}) must be {fixed!r}, found {found(raw)}", lineno, name, source)
        if kind == KIND_RESERVE:
            if raw.strip():
                raise EiError(f"reserve {where} must be blank, found {_data_in(raw, s)} "
                              "(data the layout does not know; extend the layout)", lineno, name, source)
            continue
        if kind == KIND_AN:  # left-aligned: trailing spaces are padding, leading spaces and a U+00A0 the value's
            v = raw.rstrip(" ")
            if not v or (zeros and not v.strip("0")):
                continue
            if strip and len(v) == strip and v[0] == "0" and v.isdigit() and v.strip("0"):
                v = v.lstrip("0")  # a number zero-filled to the layout's zero_pad width; any other zeros are its own
            values[name] = v
            continue
        v = raw.strip()
        if not v:
            continue
        if not (v.isdigit() and v.isascii()):
            raise EiError(f"{name} ({where}) must be numeric, found {shape(raw)}", lineno, name, source)
        if kind == KIND_N and len(v) != len(raw):  # "384 " is no gemeente 0384: a shifted or left-aligned value
            raise EiError(f"{name} ({where}) must be numeric, found {shape(raw)} (an N field is digits only: "
                          "right-aligned and zero-padded)", lineno, name, source)
        if zeros and not v.strip("0"):
            continue
        converted = _CONVERTED.get(kind)
        if converted is not None:  # a date or a time
            convert, what, problem = converted
            iso = convert(raw)
            if iso is None:
                raise EiError(f"{name} ({where}) is not a valid {what}: {problem(raw)}", lineno, name, source)
            v = iso
        else:
            if maxv is not None and int(v) > maxv:
                raise EiError(f"{name} ({where}) is more than the maximum {maxv}", lineno, name, source)
            if strip:
                v = v.lstrip("0") or "0"
        values[name] = v
    return values


def _data_in(raw: str, start: int) -> str:
    """Where the non-blank part of a reserve ``raw`` (at 0-based ``start``) sits, and its shape."""
    first = len(raw) - len(raw.lstrip())
    last = len(raw.rstrip())
    return f"{shape(raw[first:last])} at positions {start + first + 1}-{start + last}"


def date_problem(raw: str) -> str:
    """Why ``raw`` is no ``YYYYMMDD`` date, without its digits (a birth date is personal data)."""
    if len(raw) != 8 or not (raw.isdigit() and raw.isascii()):
        return f"found {shape(raw)}"
    if not 1 <= int(raw[4:6]) <= 12:
        return "the month is not 01-12"
    if raw[:4] == "0000":
        return "the year is 0000"
    return "the day does not exist in its month"


def time_problem(raw: str) -> str:
    """Why ``raw`` is no ``HHMMSS`` time of day, without its digits."""
    if len(raw) != 6 or not (raw.isdigit() and raw.isascii()):
        return f"found {shape(raw)}"
    if int(raw[:2]) > 23:
        return "the hour is more than 23"
    return "the minutes are more than 59" if int(raw[2:4]) > 59 else "the seconds are more than 59"


_CONVERTED = {KIND_DATE: (_iso_date, "date YYYYMMDD", date_problem),
              KIND_TIME: (_iso_time, "time HHMMSS", time_problem)}
"""Per converted kind: the conversion, what it expects, and how a failure is told without the value."""


def link_difference(here: str | None, there: str | None) -> str:
    """How a link field's value differs from its parent's, without either value."""
    if not here or not there:
        return "empty here" if not here else "empty in the parent"
    if shape(here) != shape(there):
        return f"here {shape(here)}, there {shape(there)}"
    at = next(i for i, (a, b) in enumerate(zip(here, there, strict=True)) if a != b)
    return f"both {shape(here)}, the first difference at character {at + 1}"
