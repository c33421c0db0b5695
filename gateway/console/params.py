"""Values from a page's address or form, checked before a query sees them: a bad one is a 400 that names the
parameter and what it should be, never a 500.

Apart from the pages because the same few shapes (a day, a row id) recur, and because ``str.isdigit`` is not
enough: it takes ``²`` (which ``int`` refuses) and digits of other scripts, and ``int`` of a few thousand digits
raises too; SQLite's row ids end at 2**63 − 1, and a larger Python int overflows its binding.
"""

from __future__ import annotations

import datetime as dt
import re

MAX_ROWID = 2**63 - 1
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMBER = re.compile(r"[0-9]{1,19}")


class BadParameter(ValueError):
    """A value a page cannot use; its text names the parameter and what was expected, never the value itself."""


def day(value: str | None, name: str) -> str | None:
    """A calendar day as ``YYYY-MM-DD`` (ASCII digits, a day that exists), or None when empty."""
    if not value:
        return None
    if not _DAY.fullmatch(value):
        raise BadParameter(f"{name}: expected a date as YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise BadParameter(f"{name}: expected a date as YYYY-MM-DD that exists on the calendar") from None
    return value


def choice(value: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    """One of ``allowed``, or None when empty. Anything else is refused, not dropped: a filter dropped unsaid shows
    every row under the heading of the one asked for (a typo'd ``status=quarantine`` listed all messages)."""
    if not value:
        return None
    if value not in allowed:
        raise BadParameter(f"{name}: expected one of {', '.join(allowed)}")
    return value


def row_id(value: str | None, name: str) -> int | None:
    """A row id (ASCII digits, at most 2**63 − 1), or None when empty."""
    if not value:
        return None
    if not _NUMBER.fullmatch(value) or int(value) > MAX_ROWID:
        raise BadParameter(f"{name}: expected a message id, a whole number from 0 to {MAX_ROWID}")
    return int(value)
