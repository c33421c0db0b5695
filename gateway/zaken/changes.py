"""Changes: what differs between the state the receiver holds of a zaak and the state a message describes.

The elements of an updateZaak (StUF 03.01 table 5.3: exactly the changed ones, old and new) and its relation
changes (5.2.6: R, W, T, V), worked out apart from :mod:`.plan`, which decides whether and when they are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .state import ATTRS, JsonDict


@dataclass(frozen=True, slots=True)
class Change:
    """One element of an updateZaak: its old (ledger) and new value; None means no value (geenWaarde)."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class RelationChange:
    """A relation of an updateZaak: replaced by another (verwerkingssoort R, StUF 03.01 5.2.6 item 7: another
    BSN or AGB), its own data changed (W, item 3: the initiator's afwijkendCorrespondentieAdres or its extraElement
    ``emailadres``), a betrokkene added (T, item 2: ``old`` None) or no longer relevant (V, item 5: ``new`` None).
    ``old``/``new``: the person states of the initiator or a betrokkene, or the aanbieder's AGB of the uitvoerende.
    A W's ``new`` is the held initiator with its new afwijkendCorrespondentieAdres and extraElementen; the writer
    sends those that differ."""

    name: str  # "initiator" | "uitvoerende" | "betrokkene"
    old: Any
    new: Any
    verwerkingssoort: str = "R"


REPLACEABLE = {"initiator": "bsn", "uitvoerende": None}
"""Relations a W replaces when the identifying value differs (the BSN of the initiator, the AGB itself); a
changed name or address of the same person is not a zaak change (docs/canonical-spec.md 3)."""


def attribute_changes(old: JsonDict, new: JsonDict) -> tuple[tuple[Change, ...], tuple[Change, ...]]:
    """The changed ZAK attributes and extraElementen; the same container on both sides (an end planned right after
    its creeerZaak shares the state's extraElementen) has none, without comparing its ~20 values."""
    before, after = old["attrs"], new["attrs"]
    changed = []  # a loop, not a generator: every update and every repeat of a toewijzing compares these
    for n in ATTRS:
        if before.get(n) != after.get(n):
            changed.append(Change(n, before.get(n), after.get(n)))
    attrs = tuple(changed)
    before, after = old["extra"], new["extra"]
    if before is after:
        return attrs, ()
    names = list(before) + [n for n in after if n not in before]
    extra = tuple(Change(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n))
    return attrs, extra


def _identity(name: str, value: Any) -> Any:
    key = REPLACEABLE[name]
    return value.get(key) if key and isinstance(value, dict) else value


def rol_extra(initiator: JsonDict) -> JsonDict:
    """The initiator relation's extraElementen (``emailadres``); {} for a state stored before the initiator had
    them (its e-mail then was the ZAK's ``client.emailadres``), so such a state without one changes nothing."""
    return initiator.get("extra") or {}


def relation_changes(old: JsonDict, new: JsonDict) -> tuple[RelationChange, ...]:
    """The relations whose object is another one now (another BSN, another AGB: R) or, for the same client,
    whose own data changed (W: the correspondence address, the zaak's e-mail address), in schema order."""
    out = []
    for name in REPLACEABLE:
        before, after = old.get(name), new.get(name)
        if not before or not after or before is after:  # the same object: not another one, nor changed
            continue
        if _identity(name, before) != _identity(name, after):
            out.append(RelationChange(name, before, after))
        elif name == "initiator" and (before.get("correspondentie") != after.get("correspondentie")
                                      or rol_extra(before) != rol_extra(after)):
            out.append(RelationChange(name, before, {**before, "correspondentie": after.get("correspondentie"),
                                                     "extra": rol_extra(after)}, "W"))
    return tuple(out + _betrokkenen_changes(old.get("betrokkenen", []), new.get("betrokkenen", [])))


def _betrokkene_key(betrokkene: JsonDict) -> tuple[Any, ...]:
    """A relative has no BSN: the role and the person's kerngegevens name the relation (StUF 03.01 5.2.6)."""
    person = betrokkene["persoon"]
    return (betrokkene["rol"], *(person.get(k) for k in ("geslachtsnaam", "voorvoegsel", "voorletters",
                                                           "voornamen", "geslacht", "geboortedatum")))


def _betrokkenen_changes(old: list[JsonDict], new: list[JsonDict]) -> list[RelationChange]:
    """Relatives gone (V) and come (T); one whose other data changed stays as sent."""
    if old is new:  # the same list: none gone, none come
        return []
    kept = {_betrokkene_key(b) for b in new}
    held = {_betrokkene_key(b) for b in old}
    return ([RelationChange("betrokkene", b, None, "V") for b in old if _betrokkene_key(b) not in kept]
            + [RelationChange("betrokkene", None, b, "T") for b in new if _betrokkene_key(b) not in held])
