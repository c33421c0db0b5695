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
    if len(value) != 9 or not value.isdigit() or value == "000000000":
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


_DIGIT_RUN = re.compile(r"(?<!\d)\d{8,9}(?!\d)")


def mask_bsns(text: str) -> str:
    """``text`` with every free-standing run of digits that is :func:`bsn_like` masked (``*******82``), so a
    clientnummer, a relation's number or a remark that holds a BSN shows no more of it than a bsn field."""
    return _DIGIT_RUN.sub(lambda m: mask_bsn(m.group()) if bsn_like(m.group()) else m.group(), text)


def is_agb(value: str) -> bool:
    """AGB codes are exactly eight digits; no check digit is defined, so only the format is checked."""
    return len(value) == 8 and value.isdigit()


def is_gemeentecode(value: str) -> bool:
    """CBS gemeentecode: exactly four digits, leading zeros significant."""
    return len(value) == 4 and value.isdigit()
