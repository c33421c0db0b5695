"""Error texts say what is wrong without echoing personal values, and never grow without bound.

Errors end up in convert output, report.jsonl, ``.reason`` files, Fo03 replies and the outbox; a
name, birth date, phone number, address part or BSN must not travel with them (issue 11, item 7).
Codes, versions, dates of the care (ingangsdatum, toewijzingsdatum ...) and enum values may be shown:
they are what an integrator needs to fix the mapping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.model.codes import CODE_LISTS

MAX_MESSAGE = 500
"""Characters an error text may have; a longer one is cut (a 9 MB value once made a 9.4 MB report line)."""

MAX_SHOWN = 40
"""Characters of a non-personal value an error may quote."""

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
    """A value as an error may quote it (`` (got '07A3')``), or None when it must not be shown."""
    if personal(field) or isinstance(value, dict | list) or value is None:
        return None
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…'"


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
