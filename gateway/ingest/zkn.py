"""Read a canonical StUF-ZKN ``zakLk01`` (as Overstap writes it) back into the canonical model.

This is the first half of the way back (canonical -> vendor dialect) and what round-trip tests
stand on. It follows docs/canonical-spec.md: the extraElement names are canonical paths, native
ZAK/NPS elements hold the client's identity.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree
from pydantic import BaseModel, ValidationError

from gateway.model import Bericht, Client
from gateway.model.introspect import fields_of, is_date, is_time

from .ei_fields import date_problem, time_problem
from .errors import InputError, found

ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
BG = "{http://www.egem.nl/StUF/sector/bg/0310}"
GESLACHT = {"O": "0", "M": "1", "V": "2"}
PLURAL = {
    "relatie": "relaties", "contact": "contacten", "product": "producten", "telefoon": "telefoon",
    "beperking": "beperkingen", "score": "scores", "grondslag": "grondslagen", "retourcode": "retourcodes",
}
NATIVE = {
    "inp.bsn": ("bsn",), "geslachtsnaam": ("naam", "geslachtsnaam", "naam"),
    "voorvoegselGeslachtsnaam": ("naam", "geslachtsnaam", "voorvoegsel"), "voorletters": ("naam", "voorletters"),
    "voornamen": ("naam", "voornamen"), "geslachtsaanduiding": ("geslacht",), "geboortedatum": ("geboortedatum",),
}


def stuf_date(raw: str, field: str, line: int | None = None) -> dt.date:
    """A StUF date ``yyyymmdd`` (the zaak's dates, a geboortedatum), or InputError naming ``field``: an impossible
    date (month 13) is the sender's error, never a crash, and its digits are not told (a birth date is personal)."""
    if len(raw) == 8 and raw.isascii() and raw.isdigit():
        try:
            return dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
        except ValueError:
            pass
    raise InputError(f"{field} must be a date yyyymmdd: {date_problem(raw)}", field=field, line=line)


def stuf_time(raw: str, field: str, line: int | None = None) -> dt.time:
    """A StUF time ``hhmmss``, or InputError naming ``field`` (hour 25 is the sender's error, never a crash)."""
    if len(raw) == 6 and raw.isascii() and raw.isdigit():
        try:
            return dt.time(int(raw[:2]), int(raw[2:4]), int(raw[4:]))
        except ValueError:
            pass
    raise InputError(f"{field} must be a time hhmmss: {time_problem(raw)}", field=field, line=line)


def _value(raw: str, model: type[BaseModel], name: str, where: str) -> Any:
    kind = fields_of(model).get(name)
    if kind is None:
        return raw
    if is_date(kind) and raw:
        return stuf_date(raw, where)
    if is_time(kind) and raw:
        return stuf_time(raw, where)
    return raw


def _put(target: dict[str, Any], model: type[BaseModel], parts: list[str], raw: str, where: str) -> None:
    """Place ``raw`` at the canonical path ``parts`` (singular list names followed by a 1-based index)."""
    head, rest = parts[0], parts[1:]
    if head == "extra":
        target.setdefault("extra", {})[".".join(rest)] = raw
        return
    numbered = bool(rest) and rest[0].isascii() and rest[0].isdigit()  # '²' is a digit to isdigit, not to int
    name = PLURAL.get(head, head) if numbered else head
    kind = fields_of(model).get(name)
    if kind is None:
        raise InputError(f"extraElement {where!r} names no canonical field ({name!r} unknown)", field=where)
    if kind.kind in ("models", "scalars"):
        if not numbered:
            raise InputError(f"extraElement {where!r}: {head} needs an index", field=where)
        index = int(rest[0]) - 1
        items = target.setdefault(name, [])
        if not 0 <= index <= len(items):  # never a list grown to a number the sender chose (memory, a crash at 0)
            raise InputError(f"extraElement {where!r}: {head} number {found(rest[0])} is not 1..{len(items) + 1}; "
                             f"the items of a list are numbered from 1 in order", field=where)
        if index == len(items):
            items.append({} if kind.kind == "models" else None)
        if kind.kind == "scalars":
            items[index] = raw
        else:
            assert kind.model is not None
            _put(items[index], kind.model, rest[1:], raw, where)
        return
    if kind.kind == "model":
        assert kind.model is not None
        _put(target.setdefault(name, {}), kind.model, rest, raw, where)
        return
    if rest:
        raise InputError(f"extraElement {where!r}: {name} has no sub-fields", field=where)
    target[name] = _value(raw, model, name, where)


def read_zkn(root: etree._Element, source: str = "<input>") -> Bericht:
    """The canonical message one zakLk01 carries (the new state of a W, the object of a T)."""
    if root.tag != f"{ZKN}zakLk01":
        raise InputError(f"expected ZKN:zakLk01, found {etree.QName(root).localname}", source=source,
                         line=root.sourceline)
    objects = root.findall(f"{ZKN}object")
    if not objects:
        raise InputError("zakLk01 without ZKN:object", source=source, line=root.sourceline, field="object")
    zaak = objects[-1]
    bericht: dict[str, Any] = {}
    client: dict[str, Any] = {}
    for extra in zaak.iterfind(f"{STUF}extraElementen/{STUF}extraElement"):
        name = extra.get("naam") or ""
        raw = extra.text or ""
        parts = name.split(".")
        try:
            if parts[0] == "bericht":
                _put(bericht, Bericht, parts[1:], raw, name)
            elif parts[0] == "client":
                _put(client, Client, parts[1:], raw, name)
            elif parts[0] in ("beschikking", "product"):
                _put(client, Client, parts, raw, name)
            else:
                raise InputError(f"extraElement {name!r} is outside the naming scheme", field=name)
        except InputError as exc:
            raise InputError(exc.message, source=source, line=extra.sourceline, field=name) from None
    person = zaak.find(f"{ZKN}heeftAlsInitiator/{ZKN}gerelateerde/{ZKN}natuurlijkPersoon")
    if person is None:
        raise InputError("zaak without initiator natuurlijkPersoon", source=source, line=zaak.sourceline,
                         field="heeftAlsInitiator")
    for child in person:
        local = etree.QName(child).localname
        path = NATIVE.get(local)
        if path is None or child.text is None:
            continue
        value: Any = child.text
        if local == "geslachtsaanduiding":
            value = GESLACHT.get(value, value)
        elif local == "geboortedatum":
            try:
                value = stuf_date(value, "natuurlijkPersoon.geboortedatum", child.sourceline)
            except InputError as exc:
                raise InputError(exc.message, source=source, line=exc.line, field=exc.field) from None
        node = client
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    bericht["clients"] = [client]
    return validated(bericht, source)


def validated(bericht: dict[str, Any], source: str) -> Bericht:
    """The canonical model of what a zakLk01 carried, or InputError naming the first field it gets wrong."""
    try:
        return Bericht.model_validate(bericht)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(f"canonical content invalid: {first['msg']}", source=source,
                         field=".".join(str(p) for p in first["loc"])) from None
