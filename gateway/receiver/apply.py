"""Apply a creeerZaak (T) or a W/C/F kennisgeving to a zaak, refusing what StUF 03.01 §5.2 forbids.

Rules followed: Tabel 5.3 (oud holds the te wijzigen, nieuw the gewijzigde elements: the same ones),
§5.2.4 (all values of a repeating element), §5.2.6 / Tabel 5.5 and 5.7 (how a relation is added,
removed, ended or replaced), §3.4.1 (noValue; geenWaarde removes a value), ZDS 1.2 §4.1.3-4.1.5.
"""

from __future__ import annotations

from collections.abc import Mapping

from lxml import etree

from .message import STUF, VERWERKINGSSOORT, ZKN, Refusal, is_datum, is_relation, is_tijdstip, local, no_value
from .statuses import unplaceable
from .zaak import (
    EXTRA,
    REPEATING,
    ROLES,
    Relation,
    Status,
    Unknown,
    Value,
    Zaak,
    attributes_of,
    extra_values,
    identity,
    nil_without_reason,
    reason_with_content,
    value_of,
)

SLEUTEL_VERZENDEND = f"{{{STUF}}}sleutelVerzendend"
"""The sender's key of an object: a W names one object, so oud and nieuw carry the same key or none (§5.2.4)."""
Known = Mapping[str, Zaak]
"""The zaken the zaaksysteem holds, by identificatie."""
ONLY_ONE = {"isVan": "second-zaaktype", "heeftAlsInitiator": "second-initiator"}
RELATION_VS = {"W": frozenset("TVERWI"), "C": frozenset("VRWI"), "F": frozenset("VRWI")}
LINKED_ZAKEN = ("heeftBetrekkingOpAndere", "heeftAlsDeelzaak", "heeftAlsHoofdzaak")


SERVER_CODES = frozenset({"StUF001", "StUF004", "StUF007", "StUF025", "StUF031", "StUF037", "StUF040", "StUF046",
                          "StUF049", "StUF058", "StUF061", "StUF063", "StUF064", "StUF065", "StUF067", "StUF960"})
"""The codes whose plek StUF 03.01 Tabel 4.1 and 5.8 say is the server (Tabel 5.8: "Object niet
gevonden 2 StUF064 Server"); gateway/render/foutcodes.py holds the whole table, but render is a layer above the
receiver (tests/test_layers.py), so tests/test_receiver_answers.py checks these facts against it."""


def refuse(rule: str, element: str, text: str, code: str = "StUF058") -> Refusal:
    return Refusal(code, rule, element, text, "server" if code in SERVER_CODES else "client")


def _gerelateerde(relation: etree._Element) -> etree._Element | None:
    return relation.find(f"{{{ZKN}}}gerelateerde")


def _relations(obj: etree._Element) -> list[etree._Element]:
    return [c for c in obj if isinstance(c.tag, str) and is_relation(c)]


def _check_no_value_reasons(obj: etree._Element) -> None:
    for element in obj.iter():
        if isinstance(element.tag, str) and element is not obj and nil_without_reason(element):
            raise refuse("noValue", local(element),
                         "an empty element must carry StUF:noValue saying why (StUF 03.01 §3.4.1)", "StUF055")
        if isinstance(element.tag, str) and element is not obj and reason_with_content(element):
            raise refuse("noValue", local(element), "an element with StUF:noValue has an empty content; this one "
                         "holds a value (StUF 03.01 §3.4.1)", "StUF055")


DATUMS = frozenset({"startdatum", "registratiedatum", "einddatumGepland", "uiterlijkeEinddatum", "einddatum",
                    "publicatiedatum", "archiefactiedatum", "ingangsdatumObject", "einddatumObject"})
"""The zkn0310 elements of type StUF:Datum-e a zakLk01 carries (ZAK and the ZKT/STT it names)."""


def _check_dates(obj: etree._Element) -> None:
    """A date a zaaksysteem stores and compares must be one; the schema's decimal type takes -2026 and 20261301."""
    for element in obj.iter(*(f"{{{ZKN}}}{name}" for name in DATUMS)):
        raw = (element.text or "").strip()
        onvolledig = element.get(f"{{{STUF}}}indOnvolledigeDatum", "V") != "V"
        if no_value(element) is None and not is_datum(raw, onvolledig):
            raise refuse("datum", local(element), "a date is EEJJMMDD, a valid date unless StUF:indOnvolledigeDatum "
                         "says part is unknown (StUF 03.01 §3.3.1: \"gevuld met een geldige datum\")", "StUF055")


ROL_EXTRA = frozenset({"emailadres"})
"""The extraElementen a ROL relation may carry. ZDS 1.2 §4.1.4.2 (creeerZaak; §4.1.5.3 allows the same in an
updateZaak) gives a ROL "<alle child elementen m.u.v. tijdvakRelatie, tijdvakGeldigheid, tijdstipRegistratie,
extraElementen, …>" and then one: "object . <ROL> . extraElement — Indien betrokkene in ROL een correspondentie-email
adres specifiek voor deze zaak heeft. naam = emailadres"."""


def _details(relation: etree._Element) -> dict[str, Value]:
    """The relation's own elements (rol code, omschrijving, afwijkendCorrespondentieAdres …), not the
    gerelateerde's personal data and not relations of the relation; of a ROL also its extraElementen (name → value),
    refused (StUF055) when one is not ``emailadres`` (:data:`ROL_EXTRA`)."""
    details = {local(c): value_of(c) for c in relation
               if isinstance(c.tag, str) and etree.QName(c).namespace == ZKN and local(c) != "gerelateerde"
               and not is_relation(c)}
    name = local(relation)
    extra = relation.find(f"{{{STUF}}}{EXTRA}")
    if name in ROLES and extra is not None:
        values = extra_values(extra)
        for naam in values:
            if naam not in ROL_EXTRA:
                raise refuse("rol-extraElement", f"{name}/extraElement {naam}", "a ROL carries one extraElement, "
                             "naam = emailadres (ZDS 1.2 §4.1.4.2: \"object . <ROL> . extraElement — Indien betrokkene "
                             "in ROL een correspondentie-email adres specifiek voor deze zaak heeft. naam = "
                             "emailadres\"; its other child elementen are \"m.u.v. … extraElementen\")", "StUF055")
        details[EXTRA] = values
    return details


STATUS_VERPLICHT = (
    ("heeft/gerelateerde/omschrijving", "object . heeft . gerelateerde . omschrijving", "Statustype-omschrijving"),
    ("heeft/gerelateerde/volgnummer", "object . heeft . gerelateerde . volgnummer", "Statustype-volgnummer"),
    ("heeft/datumStatusGezet", "object . heeft . datumStatusGezet", "Datum Status gezet"),
    ("heeft/isGezetDoor/gerelateerde/identificatie", "object . heeft . isGezetDoor . gerelateerde . <medewerker, "
     "organisatorischeEenheid> . identificatie", "Medewerkeridentificatie of Organisatieidentificatie"),
)
"""The elements of a status ZDS 1.2 §4.1.3.2 (actualiseerZaakstatus_ZakLk01) marks v(erplicht), in its words."""


def _text(parent: etree._Element | None, name: str) -> str:
    found = parent.find(f"{{{ZKN}}}{name}") if parent is not None else None
    return (found.text or "").strip() if found is not None and found.text else ""


STT_KERNGEGEVENS = ("zkt.code", "zkt.omschrijving", "volgnummer", "code", "omschrijving", "ingangsdatumObject")
"""zkn0310 ``STT-kerngegevensKennisgeving``: what names a statustype (StUF 03.01 5.2.4: always included)."""


def _statustype(gerelateerde: etree._Element | None, zaak: Zaak) -> None:
    """A status's statustype carries its kerngegevens (a value, or the empty element with its noValue) and is one
    of the zaak's own zaaktype: a ZTC's statustypes belong to one zaaktype."""
    if gerelateerde is None:
        return
    for name in STT_KERNGEGEVENS:
        found = gerelateerde.find(f"{{{ZKN}}}{name}")
        if found is None or not ((found.text or "").strip() or found.get(f"{{{STUF}}}noValue")):
            raise refuse("kerngegevens", f"heeft/gerelateerde/{name}", "a statustype is named by its kerngegevens "
                         f"{', '.join(STT_KERNGEGEVENS)} (zkn0310 STT-kerngegevensKennisgeving; StUF 03.01 §5.2.4: "
                         "\"De kerngegevens van een … gerelateerde moeten altijd worden opgenomen\"), an unknown "
                         "one empty with its noValue", "StUF055")
    check_zaaktype_kern({"omschrijving": _text(gerelateerde, "zkt.omschrijving")} if _text(
        gerelateerde, "zkt.omschrijving") else {}, zaak, "heeft/gerelateerde/zkt")
    own = _zaaktype(zaak)
    if own and f"code={_text(gerelateerde, 'zkt.code')}" != own:
        raise refuse("statustype-zaaktype", "heeft/gerelateerde/zkt.code", "the statustype belongs to another "
                     "zaaktype than the zaak's isVan (RGBZ: a statustype is one of its zaaktype's)")


def _status(relation: etree._Element, zaak: Zaak) -> Status:
    """The status a ``heeft`` relation adds, refused (StUF055) when an element ZDS 1.2 requires is empty or absent:
    without them a zaaksysteem cannot tell which statustype was reached, when, or by whom."""
    gerelateerde = _gerelateerde(relation)
    door = relation.find(f"{{{ZKN}}}isGezetDoor/{{{ZKN}}}gerelateerde")
    by = [c for c in door if isinstance(c.tag, str) and local(c) in ("medewerker", "organisatorischeEenheid")] if (
        door is not None) else []
    values = (_text(gerelateerde, "omschrijving"), _text(gerelateerde, "volgnummer"),
              _text(relation, "datumStatusGezet"), _text(by[0], "identificatie") if by else "")
    for value, (element, path, attribuut) in zip(values, STATUS_VERPLICHT, strict=True):
        if not value:
            raise refuse("status", element, f"a status needs {attribuut}: ZDS 1.2 §4.1.3.2 (actualiseerZaakstatus) "
                         f"marks '{path}' v (verplicht)", "StUF055")
    if not is_tijdstip(values[2]):
        raise refuse("status", "heeft/datumStatusGezet", "datumStatusGezet must be a moment EEJJMMDD[hhmmss[ddd]] "
                     "with a valid date and time (StUF 03.01 §3.3.1): the latest status is found by it", "StUF055")
    _statustype(gerelateerde, zaak)
    return Status(values[0], values[1], values[2], _text(relation, "toelichting") or None, identity(door)[1] or None)


def _add_relation(zaak: Zaak, relation: etree._Element, known: Known) -> None:
    """Add a relation (verwerkingssoort T) to the zaak: a status, a link to a known zaak, or a betrokkene."""
    name = local(relation)
    gerelateerde = _gerelateerde(relation)
    if gerelateerde is not None and gerelateerde.get(VERWERKINGSSOORT) not in (None, "T", "I"):
        raise refuse("verwerkingssoort", f"{name}/gerelateerde",
                     "a gerelateerde in an added relation has verwerkingssoort I or T (StUF 03.01 Tabel 5.7)")
    if (name == "isVan" or name in LINKED_ZAKEN) and gerelateerde is not None and (
            gerelateerde.get(VERWERKINGSSOORT) != "I"):
        raise refuse("verwerkingssoort", f"{name}/gerelateerde", "a zaaktype or a related zaak is sent with "
                     "verwerkingssoort I: it cannot be created through a relation (ZDS verwerkingssoort table)")
    if name == "heeft":
        status = _status(relation, zaak)
        why = unplaceable(zaak.statussen, status)
        if why is not None:
            raise refuse(why[0], "heeft/datumStatusGezet", why[1])
        zaak.statussen.append(status)
        return
    if name in ONLY_ONE and zaak.related(name):
        raise refuse(ONLY_ONE[name], name, f"the zaak already has its one {name} relation; a relation with "
                     "verwerkingssoort T would add a second (StUF 03.01 §5.2.6 punt 2, ZDS 1.2 §4.1.5)")
    soort, key = identity(gerelateerde)
    if name in LINKED_ZAKEN and key.partition("=")[2] not in known:
        raise refuse("unknown-related-zaak", f"{name}/gerelateerde/identificatie",
                     "a related zaak sent with verwerkingssoort I must be known to the zaaksysteem "
                     "(StUF 03.01 §5.2.6 punt 1; ZDS verwerkingssoort table)", "StUF064")
    if name in LINKED_ZAKEN:
        assert gerelateerde is not None  # a key was found in it
        check_related_kern(gerelateerde, known[key.partition("=")[2]], name)
    if key and any(r.name == name and r.key == key for r in zaak.relations):
        raise refuse("relation-twice", name, "a relation to one and the same object may occur only once "
                     "(StUF 03.01 §5.2.4, overige regels)")
    details = _details(relation)
    if EXTRA in details:  # an added relation holds the extraElementen that have a value
        details[EXTRA] = {k: v for k, v in details[EXTRA].items() if v is not None}
        if not details[EXTRA]:
            del details[EXTRA]
    zaak.relations.append(Relation(name, soort, key, details, zkt_kern(gerelateerde) if name == "isVan" else {}))


def _required(zaak: Zaak, name: str) -> None:
    if not isinstance(zaak.attributes.get(name), str) or not zaak.attributes[name]:
        raise refuse("creeerZaak-required", name, f"creeerZaak requires {name} with a value (ZDS 1.2 §4.1.4)",
                     "StUF055")


def create(obj: etree._Element, known: Known) -> Zaak:
    """A new zaak from a mutatiesoort T object; ``known`` are the identificaties already in the store."""
    if obj.get(VERWERKINGSSOORT) != "T":
        raise refuse("verwerkingssoort", "object", "mutatiesoort T needs verwerkingssoort T on the object "
                     "(StUF 03.01 Tabel 5.3)")
    _check_no_value_reasons(obj)
    _check_dates(obj)
    attributes = {k: v for k, v in attributes_of(obj).items() if v is not None and v != []}
    identificatie = attributes.get("identificatie")
    if not isinstance(identificatie, str) or not identificatie:
        raise refuse("creeerZaak-required", "identificatie", "creeerZaak requires a zaakidentificatie "
                     "(ZDS 1.2 §4.1.4)", "StUF055")
    if identificatie in known:
        raise refuse("zaak-exists", "identificatie", "a zaak with this identificatie exists; a T may not add "
                     "it again (ZDS 1.2 §4.1.4.1: zaakidentificaties are unique)")
    if EXTRA in attributes:
        attributes[EXTRA] = {k: v for k, v in attributes[EXTRA].items() if v is not None}
    zaak = Zaak(identificatie, attributes)
    for name in ("startdatum", "registratiedatum", "zaakniveau", "deelzakenIndicatie"):  # ZDS 1.2 4.1.4.2: v
        _required(zaak, name)
    for relation in _relations(obj):
        if relation.get(VERWERKINGSSOORT) != "T":
            raise refuse("verwerkingssoort", local(relation), "in a toevoegkennisgeving every relation has "
                         "verwerkingssoort T (StUF 03.01 §5.2.6 punt 1, Tabel 5.7)")
        _add_relation(zaak, relation, known)
    for name in ("isVan", "heeftAlsInitiator"):
        if len(zaak.related(name)) != 1:
            raise refuse("creeerZaak-required", name, f"creeerZaak requires exactly one {name} relation "
                         "(ZDS 1.2 §4.1.4.2)", "StUF055")
    return zaak


def _same(old: Value, stored: Value) -> bool:
    if isinstance(old, Unknown) or isinstance(stored, Unknown):
        return isinstance(old, Unknown) and isinstance(stored, Unknown) and str(old) == str(stored)
    return old == stored


def _apply_attributes(zaak: Zaak, old: dict[str, Value], new: dict[str, Value]) -> None:
    """Tabel 5.3: oud and nieuw hold the same elements; oud must equal the stored value; nieuw replaces it."""
    if old.get("identificatie") != new.get("identificatie"):
        raise refuse("identificatie-immutable", "identificatie", "oud and nieuw name different zaken; the "
                     "zaakidentificatie may not change (ZDS 1.2 §4.1.5, StUF 03.01 §5.2.4)")
    names_old, names_new = set(old) - {"identificatie"}, set(new) - {"identificatie"}
    if names_old != names_new:
        differing = sorted(names_old ^ names_new)[0]
        raise refuse("oud-nieuw-elements", differing, "oud and nieuw must hold the same elements: the te "
                     "wijzigen and the gewijzigde (StUF 03.01 Tabel 5.3)", "StUF055")
    extra_old, extra_new = old.get(EXTRA, {}), new.get(EXTRA, {})
    if set(extra_old) != set(extra_new):
        differing = sorted(set(extra_old) ^ set(extra_new))[0]
        raise refuse("oud-nieuw-elements", f"extraElement {differing}", "oud and nieuw must hold the same "
                     "extraElementen (StUF 03.01 Tabel 5.3)", "StUF055")
    stored_extra = zaak.attributes.get(EXTRA, {})
    for name, value in extra_old.items():
        if not _same(value, stored_extra.get(name)):
            raise refuse("oud-mismatch", f"extraElement {name}", "the oud value differs from the value the "
                         "zaaksysteem holds (StUF 03.01 Tabel 5.3: oud = te wijzigen value)")
    for name in sorted(names_old - {EXTRA}):
        if not _same(old[name], zaak.stored(name)):
            raise refuse("oud-mismatch", name, "the oud value differs from the value the zaaksysteem holds "
                         "(StUF 03.01 Tabel 5.3: oud = te wijzigen value)")
    for name in names_new - {EXTRA}:
        value = new[name]
        if value is None or (name in REPEATING and value == []):
            zaak.attributes.pop(name, None)  # geenWaarde removes the value (§3.4.1)
        else:
            zaak.attributes[name] = value
    if extra_new:
        merged = {**stored_extra, **extra_new}
        zaak.attributes[EXTRA] = {k: v for k, v in merged.items() if v is not None}


def _find(zaak: Zaak, name: str, relation: etree._Element) -> Relation:
    key = identity(_gerelateerde(relation))[1]
    for existing in zaak.relations:
        if existing.name == name and existing.key == key:
            return existing
    raise refuse("oud-mismatch", name, "the relation in oud is not a relation the zaak holds "
                 "(StUF 03.01 §5.2.6)")


def _empty(relation: etree._Element) -> bool:
    return no_value(relation) == "geenWaarde" and not len(relation)


def _change_relation(held: Relation, name: str, old: etree._Element, new: etree._Element) -> None:
    """§5.2.6 punt 3 / Tabel 5.5 "Wijzigen relatie": oud holds K/Sleutel + the te wijzigen gegevens, which must be
    the held ones; nieuw the gewijzigde (the same elements); geenWaarde removes a value. A ROL's extraElementen
    (``emailadres``) are compared and set name by name, as a ZAK's are (Tabel 5.3)."""
    before, after = _details(old), _details(new)
    extra_before, extra_after = before.pop(EXTRA, {}), after.pop(EXTRA, {})
    if set(before) != set(after) or set(extra_before) != set(extra_after):
        raise refuse("oud-nieuw-elements", name, "a changed relation holds the same elements in oud and nieuw "
                     "(StUF 03.01 Tabel 5.5, Wijzigen relatie)", "StUF055")
    held_extra = held.details.get(EXTRA, {})
    for element, value in [*before.items(), *((f"extraElement {n}", v) for n, v in extra_before.items())]:
        stored = held_extra.get(element[13:]) if element.startswith("extraElement ") else held.details.get(element)
        if not _same(value, stored):
            raise refuse("oud-mismatch", f"{name}/{element}", "the oud value of the relation differs from the "
                         "value the zaaksysteem holds (StUF 03.01 Tabel 5.5: K/Sleutel + te wijzigen gegevens)")
    for element, value in after.items():
        if value is None:
            held.details.pop(element, None)
        else:
            held.details[element] = value
    if extra_after:
        merged = {k: v for k, v in {**held_extra, **extra_after}.items() if v is not None}
        if merged:
            held.details[EXTRA] = merged
        else:
            held.details.pop(EXTRA, None)


def _check_replaced(name: str, old: etree._Element) -> None:
    """The oud side of a replaced relation names the held object, with verwerkingssoort I (Tabel 5.5 "Vervangen
    relatie": K/Sleutel, gerelateerde I; §5.2.6 punt 7: the rules of punt 6 for the relation being replaced)."""
    gerelateerde = _gerelateerde(old)
    inner = [c for c in gerelateerde if isinstance(c.tag, str) and c.get(VERWERKINGSSOORT)] if (
        gerelateerde is not None) else []
    target = inner[0] if inner else gerelateerde
    if target is None or _empty(old) or not identity(gerelateerde)[1]:
        raise refuse("relation-replaced-oud", name, "a replaced relation names in oud the object it replaces, by "
                     "its kerngegevens (StUF 03.01 §5.2.6 punt 7, Tabel 5.5)", "StUF055")
    if target.get(VERWERKINGSSOORT) not in (None, "I"):
        raise refuse("verwerkingssoort", f"{name}/gerelateerde", "the gerelateerde of a replaced relation has "
                     "verwerkingssoort I in oud (StUF 03.01 Tabel 5.5, Vervangen relatie)", "StUF055")


def _apply_relation(zaak: Zaak, mutatiesoort: str, old: etree._Element, new: etree._Element,
                    known: Known) -> None:
    """One pair of relations (same place in oud and nieuw) by verwerkingssoort (StUF 03.01 §5.2.6, Tabel 5.5)."""
    name, vs = local(old), old.get(VERWERKINGSSOORT)
    if local(new) != name or new.get(VERWERKINGSSOORT) != vs:
        raise refuse("verwerkingssoort", name, "a relation appears in oud and nieuw in the same order with "
                     "the same verwerkingssoort (StUF 03.01 §5.2.6, Tabel 5.5)", "StUF055")
    if vs not in RELATION_VS[mutatiesoort]:
        raise refuse("verwerkingssoort", name, f"verwerkingssoort {vs} is not allowed on a relation in a "
                     f"kennisgeving with mutatiesoort {mutatiesoort} (StUF 03.01 §5.2.6, Tabel 5.5)", "StUF055")
    if vs == "T":
        if not _empty(old):
            raise refuse("relation-added-oud", name, "an added relation is empty in oud with noValue "
                         "geenWaarde (StUF 03.01 §5.2.6 punt 2)", "StUF055")
        _add_relation(zaak, new, known)
    elif vs in ("V", "E"):
        if not _empty(new):
            raise refuse("relation-removed-nieuw", name, f"a relation with verwerkingssoort {vs} is empty in "
                         "nieuw with noValue geenWaarde (StUF 03.01 §5.2.6 punt 5/6)", "StUF055")
        if name in ONLY_ONE:
            raise refuse(f"{name}-required", name, f"the zaak must keep its one {name} relation; replace it "
                         "with R instead (ZDS 1.2 §4.1.4.2)")
        zaak.relations.remove(_find(zaak, name, old))
    elif vs == "R":
        if name == "isVan":
            raise refuse("zaaktype-immutable", name, "the zaaktype of a zaak may not be changed "
                         "(ZDS 1.2 §4.1.5)")
        _check_replaced(name, old)
        zaak.relations.remove(_find(zaak, name, old))
        _add_relation(zaak, new, known)
    elif vs == "W":
        _change_relation(_find(zaak, name, old), name, old, new)
    else:  # I: only identifies the relation (the same one in oud and nieuw); nothing changes
        if _find(zaak, name, old) is not _find(zaak, name, new):
            raise refuse("verwerkingssoort", name, "a relation with verwerkingssoort I names the same object in oud "
                         "and nieuw (StUF 03.01 Tabel 5.5)", "StUF055")
        if name == "isVan":
            for side, relation in (("oud", old), ("nieuw", new)):
                check_zaaktype_kern(zkt_kern(_gerelateerde(relation)), zaak, f"{side}/isVan/gerelateerde")


def _kern_missing(obj: etree._Element, attributes: dict[str, Value]) -> str | None:
    """The first ZAK kerngegeven (zkn0310 ``ZAK-kerngegevens``: identificatie, omschrijving, isVan) ``obj`` leaves
    out, or None. omschrijving counts when present, also empty with its noValue: a zaak may have none."""
    for name in ("identificatie", "omschrijving"):
        if name not in attributes:
            return name
    is_van = obj.find(f"{{{ZKN}}}isVan")
    return None if is_van is not None and identity(_gerelateerde(is_van))[1] else "isVan"


def _check_kern(obj: etree._Element, attributes: dict[str, Value], side: str) -> None:
    """StUF 03.01 5.2.4: "De kerngegevens van een topfundamenteel, relatie of gerelateerde moeten altijd worden
    opgenomen, tenzij sleutelOntvangend met een waarde is opgenomen"; ZDS 1.2 4.1.5.2 repeats it for updateZaak."""
    if obj.get(f"{{{STUF}}}sleutelOntvangend"):
        return
    missing = _kern_missing(obj, attributes)
    if missing is not None:
        raise refuse("kerngegevens", f"{side}/{missing}", "every object of a kennisgeving carries the ZAK "
                     "kerngegevens identificatie, omschrijving and isVan (StUF 03.01 §5.2.4: \"De kerngegevens van "
                     "een topfundamenteel ... moeten altijd worden opgenomen\"; ZDS 1.2 §4.1.5.2)", "StUF055")


def check_related_kern(gerelateerde: etree._Element, held: Zaak, name: str) -> None:
    """A related zaak (verwerkingssoort I) names a zaak the zaaksysteem holds by its kerngegevens (StUF 03.01
    5.2.4): all three present, and the ones it holds."""
    attributes = attributes_of(gerelateerde)
    missing = _kern_missing(gerelateerde, attributes)
    if missing is not None:
        raise refuse("kerngegevens", f"{name}/gerelateerde/{missing}", "a related zaak carries the ZAK "
                     "kerngegevens identificatie, omschrijving and isVan (StUF 03.01 §5.2.4)", "StUF055")
    is_van = gerelateerde.find(f"{{{ZKN}}}isVan")
    zaaktype = identity(_gerelateerde(is_van))[1] if is_van is not None else ""
    if not _same(attributes["omschrijving"], held.stored("omschrijving")) or zaaktype != _zaaktype(held):
        raise refuse("kerngegevens-mismatch", f"{name}/gerelateerde", "the related zaak's kerngegevens differ from "
                     "the zaak the zaaksysteem holds with this identificatie (StUF 03.01 §5.2.4)")
    if is_van is not None:
        check_zaaktype_kern(zkt_kern(_gerelateerde(is_van)), held, f"{name}/gerelateerde/isVan/gerelateerde")


ZKT_KERN = ("omschrijving", "code", "ingangsdatumObject")
"""zkn0310 ``ZKT-kerngegevens``: what names a zaaktype."""


def zkt_kern(gerelateerde: etree._Element | None) -> dict[str, str]:
    """The ZKT kerngegevens a zaaktype is named by that carry a value (one the sender does not know is left out)."""
    found = {name: _text(gerelateerde, name) for name in ZKT_KERN}
    return {name: value for name, value in found.items() if value}


def check_zaaktype_kern(given: dict[str, str], zaak: Zaak, element: str) -> None:
    """A zaaktype named again (isVan I, a related zaak's isVan, a statustype's zkt.*) is the one the zaak has: each
    kerngegeven given with a value equals the one the creeerZaak gave (StUF 03.01 §5.2.4: kerngegevens identify)."""
    held = zaak.related("isVan")
    kern = held[0].kern if held else {}
    differing = sorted(name for name, value in given.items() if name in kern and kern[name] != value)
    if differing:
        raise refuse("kerngegevens-mismatch", f"{element}/{differing[0]}", "the zaaktype's kerngegevens differ "
                     "from those of the zaak's zaaktype (StUF 03.01 §5.2.4; zkn0310 ZKT-kerngegevens)")


def _zaaktype(zaak: Zaak) -> str:
    found = zaak.related("isVan")
    return found[0].key if found else ""


KERN = frozenset({"identificatie", "omschrijving"})


def update(zaak: Zaak, mutatiesoort: str, old: etree._Element, new: etree._Element, known: Known) -> str:
    """Apply a W/C/F pair of objects to ``zaak`` in place; return the ZDS operation it was."""
    vs = old.get(VERWERKINGSSOORT)
    if new.get(VERWERKINGSSOORT) != vs or vs not in ("W", "I"):
        raise refuse("verwerkingssoort", "object", "in a W/C/F kennisgeving oud and nieuw carry the same "
                     "verwerkingssoort, W or I (StUF 03.01 Tabel 5.3)", "StUF055")
    if old.get(SLEUTEL_VERZENDEND) != new.get(SLEUTEL_VERZENDEND):
        raise refuse("sleutelVerzendend", "object", "the sleutelVerzendend of oud and nieuw must be equal (StUF 03.01 "
                     "§5.2.4 overige regels: \"moet in zowel het oude als het nieuwe voorkomen … gelijk zijn\")",
                     "StUF055")
    _check_no_value_reasons(old)
    _check_no_value_reasons(new)
    _check_dates(old)
    _check_dates(new)
    attributes_old, attributes_new = attributes_of(old), attributes_of(new)
    _check_kern(old, attributes_old, "oud")
    _check_kern(new, attributes_new, "nieuw")
    if vs == "I" and ((set(attributes_old) | set(attributes_new)) - KERN or attributes_old != attributes_new):
        changed = sorted(((set(attributes_old) | set(attributes_new)) - KERN) or ["omschrijving"])[0]
        raise refuse("verwerkingssoort", changed, "an object with verwerkingssoort I only identifies (by its "
                     "kerngegevens); a changed element needs verwerkingssoort W (StUF 03.01 Tabel 5.3)", "StUF055")
    _apply_attributes(zaak, attributes_old, attributes_new)
    relations_old, relations_new = _relations(old), _relations(new)
    if [local(r) for r in relations_old] != [local(r) for r in relations_new]:
        raise refuse("oud-nieuw-elements", "relations", "oud and nieuw must hold the same relations in the same "
                     "order (StUF 03.01 §5.2.6)", "StUF055")
    for relation_old, relation_new in zip(relations_old, relations_new, strict=True):
        _apply_relation(zaak, mutatiesoort, relation_old, relation_new, known)
    changed = [r for r in relations_new if r.get(VERWERKINGSSOORT) != "I"]
    only_status = (set(attributes_new) <= KERN and changed
                   and all(local(r) == "heeft" and r.get(VERWERKINGSSOORT) == "T" for r in changed))
    return "actualiseerZaakstatus" if only_status else "updateZaak"
