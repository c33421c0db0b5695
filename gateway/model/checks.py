"""Domain checks on identifiers: BSN 11-proef, AGB and gemeentecode formats.

Kept apart from the pydantic models so mapping tooling can reuse them on raw strings.
"""

from __future__ import annotations

import re
from operator import mul

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
_ASCII_REST = 48 * sum(_BSN_WEIGHTS) % 11
"""What ASCII's "0" (byte 48) adds to the weighted sum, mod 11: the 11-proef on the bytes is ``sum % 11 == 7``."""


def bsn_is_valid(value: str) -> bool:
    """True when ``value`` is nine digits passing the BSN 11-proef (last weight -1), not all zeros."""
    if len(value) != 9 or not value.isdecimal() or value == "000000000":  # isdigit() takes '²', int() does not
        return False
    if value.isascii():  # the usual case: weigh the bytes (no int() per digit, half the cost)
        return sum(map(mul, value.encode("ascii"), _BSN_WEIGHTS)) % 11 == _ASCII_REST
    return sum(map(mul, map(int, value), _BSN_WEIGHTS)) % 11 == 0  # nine of each: checked above


def mask_bsn(value: str) -> str:
    """Privacy mask for logs: keep the last two digits only (``*******82``)."""
    if len(value) < 3:
        return "*" * len(value)
    return "*" * (len(value) - 2) + value[-2:]


def bsn_like(digits: str) -> bool:
    """Nine digits passing the 11-proef, or eight that pass it with the leading zero put back (a BSN a vendor
    stored as a number): what a privacy mask must hide whatever field it is in."""
    return bsn_is_valid(digits) or (len(digits) == 8 and bsn_is_valid("0" + digits))


_NUMBER = re.compile(r"(?<![\d.-])\d+(?:[ .-]\d+)*")
"""Digits in groups with one space, dot or hyphen between them: ``123456782``, ``123.456.782``, ``0384 123 456 782``."""
_SEPARATOR = re.compile(r"[ .-]")


def _bsn_window(digits: str) -> bool:
    """Digits that are a BSN: :func:`bsn_like`, or nine that pass behind a leading zero (``0123456782``)."""
    return bsn_like(digits) or (len(digits) == 10 and digits[0] == "0" and bsn_is_valid(digits[1:]))


def _masked_number(found: re.Match[str]) -> str:
    """The number with every BSN in it masked but for its last two digits; a BSN may span neighbouring groups
    (``123.456.782``) or be one group of several (``0384 123456782``). Eight digits count only as one group (a BSN
    stored as a number lost its zero; ``2016-02-15`` is a date)."""
    text = found.group()
    groups = _SEPARATOR.split(text)
    bounds, at = [], 0
    for group in groups:
        bounds.append((at, at + len(group)))
        at += len(group)
    digits = "".join(groups)
    hidden = [False] * len(digits)
    for first in range(len(groups)):
        for last in range(first, len(groups)):
            start, end = bounds[first][0], bounds[last][1]
            if end - start > 10:
                break
            if (first == last or end - start >= 9) and _bsn_window(digits[start:end]):  # 2016-02-15 is a date
                hidden[start:end - 2] = [True] * (end - 2 - start)
    if not any(hidden):
        return text
    out, k = [], 0
    for ch in text:
        if _SEPARATOR.match(ch):
            out.append(ch)
        else:
            out.append("*" if hidden[k] else ch)
            k += 1
    return "".join(out)


def mask_bsns(text: str) -> str:
    """``text`` with every BSN in a free-standing number masked (``*******82``), written in one run of digits or in
    groups (``***.***.*82``), eight digits that lost the leading zero or ten with one too many: so a clientnummer,
    a relation's number or a remark that holds a BSN shows no more of it than a bsn field."""
    return _NUMBER.sub(_masked_number, text)


def is_agb(value: str) -> bool:
    """AGB codes are exactly eight digits; no check digit is defined, so only the format is checked."""
    return len(value) == 8 and value.isascii() and value.isdigit()


def is_gemeentecode(value: str) -> bool:
    """CBS gemeentecode: exactly four digits, leading zeros significant."""
    return len(value) == 4 and value.isascii() and value.isdigit()
