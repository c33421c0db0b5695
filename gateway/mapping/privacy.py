"""Error texts say what is wrong without echoing personal values, and never grow without bound.

Errors end up in convert output, report.jsonl, ``.reason`` files, Fo03 replies and the outbox; a
name, birth date, phone number, address part or BSN must not travel with them (issue 11, item 7).

The rule is the one of ingest (:mod:`gateway.ingest.errors`): a found value is quoted only when it has
the shape of a code (``'07A3'``, ``'99'``, ``'2,5'``), anything else is told by its shape (``9 digits``,
``10 characters in the form dd-dd-dddd``). Which field a value sits in does not make it safe: a value
that is not in its code list, date or number format may be a BSN or a name typed into the wrong column.
It does make it unsafe: the value of a personal field (below) is never quoted, not even a short one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway.ingest.errors import found, shape
from gateway.model.codes import CODE_LISTS

MAX_MESSAGE = 500
"""Characters an error text may have; a longer one is cut (a 9 MB value once made a 9.4 MB report line)."""

WITHHELD = "(value withheld: personal data)"

_PERSONAL_LEAVES = frozenset({
    "bsn", "naam", "voornamen", "voorletters", "voorvoegsel", "geboortedatum", "nummer", "huisnummer",
    "huisletter", "huisnummertoevoeging", "postcode", "straatnaam", "plaatsnaam", "emailadres", "commentaar",
    "clientnummer", "landnummer", "referentie_aanbieder",
})
_PERSONAL_PARTS = frozenset({"naam", "geslachtsnaam", "partnernaam", "telefoon", "adres", "extra"})


def personal(field: str | None) -> bool:
    """True for a canonical field whose value may identify a person (``clients.0.naam.voorletters``),
    and for vendor ``extra.*`` fields, whose meaning Overstap cannot know."""
    if not field:
        return False
    parts = [p for p in field.split(".") if not p.isdigit()]
    if parts and parts[-1] in CODE_LISTS:  # a code of a published list (naamgebruik, geslacht): no person in it
        return False
    return bool(parts) and (parts[-1] in _PERSONAL_LEAVES or any(p in _PERSONAL_PARTS for p in parts[:-1]))


def shown(field: str | None, value: Any) -> str | None:
    """A value as an error may give it (`` (got '07A3')``, `` (got 9 digits)``): the shape only for a
    personal field, else quoted when code-shaped (:func:`gateway.ingest.errors.found`); None for no value
    or a list or mapping (nothing useful to say)."""
    if isinstance(value, dict | list) or value is None:
        return None
    return shape(value) if personal(field) else found(value)


def named(field: str | None, value: Any) -> str:
    """:func:`shown` for the middle of a sentence: a quoted code as it is, a shape in parentheses
    (``code '7' is not in ...``, ``code (9 digits) is not in ...``)."""
    text = shown(field, value) or "no value"
    return text if text[:1] in ("'", '"') else f"({text})"


_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"|\d{5,}")
"""A quoted text as ``repr`` writes one (a quote inside escaped, or the other quote around it), or a long number."""


def unquoted(text: str) -> str:
    """A text we did not word (an unexpected exception's) with each thing it quotes, and each run of five or more
    digits, told as :func:`named` tells a value: ``invalid literal for int() with base 10: (7 letters)``. Python
    quotes the value it choked on (``int()``, a ``KeyError``, a format), and that value came from a message."""
    return _QUOTED.sub(lambda m: named(None, m.group()[1:-1] if m.group()[0] in "'\"" else m.group()), text)


def withhold(message: str, values: Iterable[Any]) -> str:
    """``message`` with every quoted or bare occurrence of ``values`` replaced by a notice."""
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if item is None or not str(item).strip():
                continue
            message = message.replace(repr(item), WITHHELD).replace(repr(str(item)), WITHHELD)
            message = message.replace(str(item), WITHHELD)
    return message


def cap(message: str) -> str:
    """At most :data:`MAX_MESSAGE` characters, marked when cut."""
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 12] + " …(cut)"
