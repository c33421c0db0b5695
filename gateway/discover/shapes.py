"""Value shapes and masking: what a value looks like, without keeping what it is.

Discover reads years of archives full of BSNs, names and birth dates. It must say "this vendor
writes dates as dd-mm-yyyy and codes with an HH- prefix" without ever putting a person in a
report, so every value is reduced to a *shape* first, and only values that cannot be personal
data (short codes under non-personal element names) are counted as themselves.
"""

from __future__ import annotations

import re
from functools import lru_cache

DATE_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("yyyy-mm-dd", re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")),
    ("dd-mm-yyyy", re.compile(r"^(\d\d)-(\d\d)-(\d{4})$")),
    ("dd/mm/yyyy", re.compile(r"^(\d\d)/(\d\d)/(\d{4})$")),
    ("dd.mm.yyyy", re.compile(r"^(\d\d)\.(\d\d)\.(\d{4})$")),
]
"""Date formats by the names ``gateway/mapping/transforms.py`` accepts for ``date:``."""

_DATETIME = re.compile(r"^(\S+)[ T](\d\d:\d\d(?::\d\d)?)$")
_TIME = {"hh:mm:ss": re.compile(r"^\d\d:\d\d:\d\d$"), "hh:mm": re.compile(r"^\d\d:\d\d$")}
_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(?:\.\d{3})*,\d+$|^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")
_PREFIX = re.compile(r"^([A-Za-z]{1,6}[-_:])([A-Za-z0-9]+)$")
_NAME_COMMA = re.compile(r"^[^\d,]+, ?(?:[A-Z]\.?\s?)+$")
_PHONE = re.compile(r"^\+?\d[\d\s-]{6,}$")

PERSONAL_PARTS = ("naam", "bsn", "burger", "straat", "plaats", "postcode", "huis", "telefoon", "mail", "geboor",
                  "geboren", "voorletter", "voorvoegsel", "tussenvoegsel", "adres", "casemanager", "audit")
"""Fragments of element names whose values are (or may be) about a person: never counted, only masked."""
PERSONAL_NAMES = frozenset({"datum", "nummer", "organisatie", "clientnummer", "relatienummer", "naam"})
"""Whole names that are personal only as a whole: ``Geboortedatum/Datum``, a relation's ``Nummer``."""
NOT_PERSONAL = frozenset({"naamgebruik", "naamcode"})
"""Code fields whose names contain a personal fragment; their values are COD700 codes."""


def elfproef(digits: str) -> bool:
    """True for nine digits that pass the BSN eleven test: masked wherever they turn up."""
    if len(digits) != 9 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - int(digits[8])
    return total % 11 == 0 and digits != "000000000"


def date_format(value: str) -> str | None:
    """The name of the date format ``value`` is written in, or None; checks it is a real date too."""
    if len(value) == 8 and value.isdigit():
        y, m, d = int(value[:4]), int(value[4:6]), int(value[6:])
        if 1850 <= y <= 2200 and 1 <= m <= 12 and 1 <= d <= 31:
            return "yyyymmdd"
        d, m, y = int(value[:2]), int(value[2:4]), int(value[4:])
        return "ddmmyyyy" if 1850 <= y <= 2200 and 1 <= m <= 12 and 1 <= d <= 31 else None
    for name, pattern in DATE_SHAPES:
        found = pattern.match(value)
        if found:
            a, b, c = (int(g) for g in found.groups())
            y, m, d = (a, b, c) if name.startswith("yyyy") else (c, b, a)
            return name if 1 <= m <= 12 and 1 <= d <= 31 else None
    return None


def code_mask(value: str) -> str:
    """``02A01`` -> ``99A99``: the layout of a code without its value."""
    return "".join("9" if ch.isdigit() else "A" if ch.isalpha() else ch for ch in value)


@lru_cache(maxsize=1 << 16)
def shape(value: str) -> str:
    """One short label for what a value looks like: ``date:dd-mm-yyyy``, ``digits:9``, ``prefix:HH-`` ..."""
    text = value.strip()
    if not text:
        return "empty"
    found = date_format(text)
    if found:
        return f"date:{found}"
    both = _DATETIME.match(text)
    if both and date_format(both.group(1)):
        return f"datetime:{date_format(both.group(1))} hh:mm{':ss' if both.group(2).count(':') == 2 else ''}"
    for name, pattern in _TIME.items():
        if pattern.match(text):
            return f"time:{name}"
    if text.isdigit():
        return f"digits:{len(text)}"
    if _DECIMAL_COMMA.match(text):
        return "decimal:comma" + (":thousands" if "." in text else "")
    if _DECIMAL_POINT.match(text):
        return "decimal:point"
    prefixed = _PREFIX.match(text)
    if prefixed and any(ch.isalpha() for ch in prefixed.group(1)):
        return f"prefix:{prefixed.group(1)}"
    if _NAME_COMMA.match(text):
        return "name:comma-initials"
    if _PHONE.match(text):
        return "phone:separators"
    if len(text) <= 12 and " " not in text:
        return f"code:{code_mask(text)}" if any(ch.isdigit() for ch in text) else "word"
    return "words" if len(text) <= 40 else "text"


@lru_cache(maxsize=4096)
def personal_name(local_name: str) -> bool:
    """Whether values under this element name may identify a person (cached: names repeat endlessly)."""
    name = local_name.lower()
    if name in NOT_PERSONAL:
        return False
    return name in PERSONAL_NAMES or any(part in name for part in PERSONAL_PARTS)


def personal(local_name: str, value: str = "") -> bool:
    """Whether a value under this element name may identify a person (or is a BSN wherever it is)."""
    return personal_name(local_name) or (len(value) >= 9 and elfproef(value.strip()))


def mask(value: str) -> str:
    """A masked example: the layout stays readable, at most the last two characters of a number and the
    first letter of a word survive (never a whole BSN, name or birth date)."""
    text = value.strip()
    if not text:
        return ""
    if date_format(text):
        return "".join("#" if ch.isdigit() else ch for ch in text)
    if sum(ch.isdigit() for ch in text) >= len(text) // 2:
        keep = 2 if len(text) > 4 else 0
        return "".join("*" if ch.isalnum() else ch for ch in text[: len(text) - keep]) + text[len(text) - keep:]
    words = text.split()
    return " ".join(w[0] + "*" * min(len(w) - 1, 6) if w[0].isalpha() else "*" * min(len(w), 7) for w in words)
