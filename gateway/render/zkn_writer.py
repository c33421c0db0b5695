"""The zakLk01 writer of profile ``zkn`` v2: one planned :class:`~gateway.zaken.Operation` as the text of a
ZDS 1.2 zakLk01 (creeerZaak T, updateZaak W with equal old/new elements, actualiseerZaakstatus).

Split from :mod:`gateway.render.zkn`, which plans against the ledger and calls :func:`write` once per
operation: this module knows the message's shape and nothing of ledgers or units. Every value goes through
the value guard (:mod:`gateway.render.guard`) at its place, so an output is schema-valid without a re-parse;
``tests/test_render_guard.py`` proves the shapes once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.zaken import CREEER, UPDATE, Operation, RelationChange
from gateway.zaken.registry import registered

from . import zkn_values as at
from .guard import Guarded, Parts, Place, guarded, parts, text
from .settings import GEZET_DOOR_VERPLICHT, Eenheid, Systeem

ZKN_NS = "http://www.egem.nl/StUF/sector/zkn/0310"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
BG_NS = "http://www.egem.nl/StUF/sector/bg/0310"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
GESLACHT_STUF = {"0": "O", "1": "M", "2": "V"}
DATUMGEBRUIK_STUF = {"1": "D", "2": "M", "3": "J"}  # COD170 -> StUF indOnvolledigeDatum
NIL = ' xsi:nil="true" StUF:noValue="{}"'
NILS = {missing: NIL.format(missing) for missing in ("geenWaarde", "waardeOnbekend")}


def _el(out: Parts, place: Place, value: str | None, missing: str | None = None) -> None:
    """``<tag>value</tag>`` at ``place``; without a value nothing, or (``missing``) the empty element with that
    noValue. The guard's fast path is :func:`text`'s own, taken here without the call (~37 values a message)."""
    if value:
        if out.__class__ is not Guarded or place.match(value) is None:
            value = text(out, place, value)
        out.append(f"{place.open}{value}{place.close}")
    elif missing:
        out.append(place.nil[missing])
    elif guarded(out):
        place.absent()


def _systeem(out: Parts, tag: str, systeem: Systeem, organisatie: str) -> None:
    places = at.ZENDER if tag == "zender" else at.ONTVANGER
    out.append(f"<StUF:{tag}>")
    _el(out, places.organisatie, systeem.organisatie or organisatie)
    _el(out, places.applicatie, systeem.applicatie)
    _el(out, places.administratie, systeem.administratie)
    out.append(f"</StUF:{tag}>")


def _person(out: Parts, places: at.RelationPlaces, person: dict[str, Any], bsn: str | None,
            verwerkingssoort: str = "T") -> None:
    """An NPS with its kerngegevens: absent ones with noValue (StUF 03.01 3.4.1 rule 1). With verwerkingssoort
    I (the person the receiver holds, named in the oud of a replaced relation) the kerngegevens only."""
    out.append(f'<ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="{verwerkingssoort}">')
    if bsn:
        _el(out, places.bsn, bsn)
    known = person.get("known")
    _el(out, places.geslachtsnaam, (person.get("geslachtsnaam") or "")[:200], "waardeOnbekend")
    _el(out, places.voorvoegsel, person.get("voorvoegsel"), "geenWaarde" if known else "waardeOnbekend")
    _el(out, places.voorletters, person.get("voorletters"), "waardeOnbekend")
    _el(out, places.voornamen, person.get("voornamen"), "waardeOnbekend")
    _el(out, places.geslacht, GESLACHT_STUF.get(person.get("geslacht") or ""), "waardeOnbekend")
    if person.get("geboortedatum"):
        indicator = DATUMGEBRUIK_STUF.get(person.get("geboortedatum_gebruik") or "", "V")
        out.append(f'<BG:geboortedatum StUF:indOnvolledigeDatum="{indicator}">'
                   f'{text(out, places.geboortedatum, person["geboortedatum"])}</BG:geboortedatum>')
    else:
        out.append(f"<BG:geboortedatum{NILS['waardeOnbekend']}/>")
    adres = person.get("adres") if verwerkingssoort == "T" else None
    if adres:
        _group(out, "BG:verblijfsadres", adres, places.verblijfsadres)
    out.append("</ZKN:natuurlijkPersoon>")


def _group(out: Parts, tag: str, adres: dict[str, Any], layout: at.Layout) -> None:
    """An address gegevensgroep: every element, noValue where absent (StUF 03.01 3.4.1 rule 2)."""
    out.append(f"<{tag}>")
    check = out.__class__ is Guarded
    for place, key, missing in layout:  # _el's work without its call (16 elements a creeerZaak); every element
        value = adres.get(key) if key else None  # of a layout has its noValue
        if value:
            if not check or place.match(value) is None:
                value = text(out, place, value)
            out.append(f"{place.open}{value}{place.close}")
        else:
            out.append(place.nil[missing])
    out.append(f"</{tag}>")


def _correspondentie(out: Parts, adres: dict[str, Any] | None) -> None:
    """afwijkendCorrespondentieAdres of the initiator (iWmo Contact Soort 02), every element with noValue where
    absent (3.4.1 rule 2); None: the group emptied (xsi:nil: the group type has no noValue attribute)."""
    if adres is None:
        out.append('<ZKN:afwijkendCorrespondentieAdres xsi:nil="true"/>')
    else:
        _group(out, "ZKN:afwijkendCorrespondentieAdres", adres, at.INITIATOR.correspondentie)


def _initiator(out: Parts, initiator: dict[str, Any], relatie: str = "T", persoon: str = "T",
               changed: tuple[bool, list[str]] = (False, [])) -> None:
    """heeftAlsInitiator: added (T, in a creeerZaak), replaced (R: oud names the held person with I) or its own data
    changed (W, StUF 03.01 Tabel 5.5 "Wijzigen relatie": the person with I and, of the afwijkendCorrespondentieAdres
    and the extraElement ``emailadres``, ``changed`` ones, old or new). The e-mail address is the ROL extraElement
    ZDS 1.2 4.1.4.2 names: "object . <ROL> . extraElement … naam = emailadres"."""
    out.append(f'<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="{relatie}">'
               "<ZKN:gerelateerde>")
    _person(out, at.INITIATOR, initiator, initiator["bsn"], persoon)
    out.append("</ZKN:gerelateerde>")
    if relatie == "W":
        correspondentie, names = changed
        if correspondentie:
            _correspondentie(out, initiator.get("correspondentie"))
        if names:
            extra = initiator.get("extra") or {}
            out.append("<StUF:extraElementen>")
            for name in names:
                _extra(out, at.INITIATOR.extra, name, extra.get(name))
            out.append("</StUF:extraElementen>")
    elif persoon == "T":
        if initiator.get("correspondentie"):
            _correspondentie(out, initiator["correspondentie"])
        _extras(out, at.INITIATOR.extra, initiator.get("extra") or {})
    out.append("</ZKN:heeftAlsInitiator>")


def _initiator_changed(change: RelationChange) -> tuple[bool, list[str]]:
    """What a W of the initiator changes: whether its afwijkendCorrespondentieAdres does, and the names of the
    extraElementen that differ (each is sent in oud and nieuw, geenWaarde where one side has none)."""
    old, new = change.old.get("extra") or {}, change.new.get("extra") or {}
    names = [n for n in [*old, *(n for n in new if n not in old)] if old.get(n) != new.get(n)]
    return change.old.get("correspondentie") != change.new.get("correspondentie"), names


def _uitvoerende(out: Parts, agb: str, relatie: str = "T", nnp: str = "T") -> None:
    """heeftAlsUitvoerende: the aanbieder as NNP (AGB in ann.identificatie); added (T) or replaced (R)."""
    out.append(f'<ZKN:heeftAlsUitvoerende StUF:entiteittype="ZAKBTRUTV" StUF:verwerkingssoort="{relatie}">'
               f'<ZKN:gerelateerde><ZKN:nietNatuurlijkPersoon StUF:entiteittype="NNP" StUF:verwerkingssoort="{nnp}">'
               f"<BG:ann.identificatie>{text(out, at.AGB, agb.zfill(17))}</BG:ann.identificatie>"
               f"<BG:statutaireNaam{NILS['waardeOnbekend']}/>"
               "</ZKN:nietNatuurlijkPersoon></ZKN:gerelateerde>")
    if nnp == "T":
        out.append("<ZKN:omschrijving>Zorgaanbieder</ZKN:omschrijving>")
    out.append("</ZKN:heeftAlsUitvoerende>")


WRITTEN: dict[tuple[int, str, str | None], str] = {}
"""extraElementen as written, by (places, naam, value), each put here only after the guard passed its name
and value at those places (so a hit needs no check, guarded or not): most extraElementen of a message are
codes its neighbours repeat (11 of ~47 guarded values an output). Only names in :data:`REMEMBERED`: no
personal data is kept past its message. Bounded: past :data:`WRITTEN_MAX` the rest are written (and checked)
each time."""
WRITTEN_MAX = 4096
NOT_REMEMBERED = ("text", "AGB code", "yyyymmdd[hhmmss]")
"""Registered types never remembered: personal or free text, and a moment to the second (``toewijzing.tijdstip``,
one for each message: remembered, it filled the memo within :data:`WRITTEN_MAX` messages of an archive, and codes
first seen after that were checked anew each time)."""
REMEMBERED = frozenset(entry["naam"] for entry in registered() if entry["type"] not in NOT_REMEMBERED)
"""The registered extraElement names whose values are codes, dates and amounts: a telephone number, an e-mail
address, a name, a client number, an AGB or a vendor's text is never remembered (gateway/zaken/extraelementen.yaml)."""


def _extra(out: Parts, places: at.ExtraPlaces, name: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    if not values:
        text(out, places.naam, name)  # refused where a guard refuses it, as when it is written
    for v in values:
        key = (id(places), name, v)
        written = WRITTEN.get(key)
        if written is None:
            naam = text(out, places.naam, name)
            if v is None:
                written = f'<StUF:extraElement naam="{naam}"{NILS["geenWaarde"]}/>'
            else:
                written = f'<StUF:extraElement naam="{naam}">{text(out, places.value, v)}</StUF:extraElement>'
            if name in REMEMBERED and guarded(out) and len(WRITTEN) < WRITTEN_MAX:
                WRITTEN[key] = written
        out.append(written)


ROLLEN = {"belanghebbende": ("heeftAlsBelanghebbende", "ZAKBTRBLH"), "gemachtigde": ("heeftAlsGemachtigde",
          "ZAKBTRGMC"), "overig": ("heeftAlsOverigBetrokkene", "ZAKBTROVR")}
"""A betrokkene's rol -> its ZAK relation element and entiteittype."""


def _empty_relation(out: Parts, tag: str, ent: str, verwerkingssoort: str) -> None:
    """The side of a relation that is not there: added (T, in oud) or no longer relevant (V, in nieuw), StUF 03.01
    5.2.6 items 2 and 5: "met de attributes StUF:entiteittype, StUF:verwerkingssoort … StUF:noValue="geenWaarde"
    en met een lege elementinhoud"."""
    out.append(f'<ZKN:{tag} StUF:entiteittype="{ent}" StUF:verwerkingssoort="{verwerkingssoort}"'
               f'{NILS["geenWaarde"]}/>')


def _betrokkene(out: Parts, b: dict[str, Any], relatie: str = "T") -> None:
    """A relative as the relation of its rol: added (T, everything) or named to be dropped (V, kerngegevens I)."""
    tag, ent = ROLLEN[b["rol"]]
    places = at.RELATIONS[b["rol"]]
    out.append(f'<ZKN:{tag} StUF:entiteittype="{ent}" StUF:verwerkingssoort="{relatie}"><ZKN:gerelateerde>')
    _person(out, places, b["persoon"], None, "T" if relatie == "T" else "I")
    out.append("</ZKN:gerelateerde>")
    if relatie != "T":
        out.append(f"</ZKN:{tag}>")
        return
    _el(out, places.code, b["code"])
    _el(out, places.omschrijving, b["omschrijving"])
    _extras(out, places.extra, b["extra"])
    out.append(f"</ZKN:{tag}>")


def _extras(out: Parts, places: at.ExtraPlaces, values: dict[str, Any]) -> None:
    """An entity's ``StUF:extraElementen`` (none at all when there are no values)."""
    if values:
        out.append("<StUF:extraElementen>")
        mine = id(places)
        for name, value in values.items():  # a single value remembered as written: without _extra's call
            written = WRITTEN.get((mine, name, value)) if value.__class__ is str else None
            if written is None:
                _extra(out, places, name, value)
            else:
                out.append(written)
        out.append("</StUF:extraElementen>")


def _kenmerk(out: Parts, pairs: list[list[str]] | None, count: int) -> None:
    pairs = pairs or []
    for i in range(count):
        if i < len(pairs):
            out.append(f"<ZKN:kenmerk><ZKN:kenmerk>{text(out, at.KENMERK, pairs[i][0])}</ZKN:kenmerk>"
                       f"<ZKN:bron>{text(out, at.KENMERK_BRON, pairs[i][1])}</ZKN:bron></ZKN:kenmerk>")
        else:
            out.append('<ZKN:kenmerk xsi:nil="true"/>')


def _attr(out: Parts, name: str, value: Any, count: int = 0) -> None:
    """One ZAK attribute of a W object; None is a removed value (geenWaarde; groups: xsi:nil)."""
    if name == "kenmerk":
        _kenmerk(out, value, count)
    elif name == "resultaat":
        if value is None:
            out.append('<ZKN:resultaat xsi:nil="true"/>')
        else:
            out.append(f"<ZKN:resultaat><ZKN:omschrijving>{text(out, at.RESULTAAT, value[:80])}</ZKN:omschrijving>"
                       "</ZKN:resultaat>")
    else:
        _el(out, at.ATTRIBUTES[name], value, "geenWaarde")


BLOCKS: dict[tuple[str, ...], str] = {}
"""Blocks made of configuration alone (a zaaktype's isVan, a statustype, the OEH that sets statuses) as written,
by their values; put here only once the guard passed them, like :data:`HEADS` (bounded by BLOCKS_MAX)."""
BLOCKS_MAX = 1024


def _block(out: Parts, key: tuple[str, ...], write: Callable[[Parts], None]) -> None:
    """The block ``write`` writes for ``key``, remembered once guarded: ~3 values a block need no check again."""
    block = BLOCKS.get(key)
    if block is None:
        mine = parts([])
        write(mine)
        block = "".join(mine)
        if guarded(mine) and len(BLOCKS) < BLOCKS_MAX:
            BLOCKS[key] = block
    out.append(block)


IS_VAN = {"T": ' StUF:verwerkingssoort="T"', "I": ' StUF:verwerkingssoort="I"', "": ""}
"""isVan's verwerkingssoort: T where a creeerZaak relates its zaaktype, I where a W names the zaak by its kerngegevens
(VNG's verwerkingssoort table: creeerZaak ``object.isVan,T``, updateZaak ``object.isVan,I``), none inside a related
zaak's kerngegevens (zkn0310 ``ZAKZKT-kerngegevens``)."""


def _is_van(out: Parts, zkt: dict[str, Any], verwerkingssoort: str = "T") -> None:
    """isVan: the zaaktype of the catalogue (configuration), the same for every zaak of its kind."""
    def write(mine: Parts) -> None:
        mine.append(f'<ZKN:isVan StUF:entiteittype="ZAKZKT"{IS_VAN[verwerkingssoort]}>'
                    f'<ZKN:gerelateerde StUF:entiteittype="ZKT"{IS_VAN[verwerkingssoort and "I"]}>')
        _el(mine, at.ZAAKTYPE_OMSCHRIJVING, zkt["omschrijving"])
        _el(mine, at.ZAAKTYPE_CODE, zkt["code"])
        _el(mine, at.ZAAKTYPE_INGANG, zkt["ingangsdatum"])
        mine.append("</ZKN:gerelateerde></ZKN:isVan>")

    _block(out, ("isVan", verwerkingssoort, zkt["omschrijving"], zkt["code"], zkt["ingangsdatum"]), write)


def _kern(out: Parts, identificatie: str, omschrijving: str | None) -> None:
    """A ZAK's identificatie and omschrijving: with isVan its kerngegevens, which every object of a W carries (StUF
    03.01 5.2.4; ZDS 1.2 4.1.5.2: "alle kerngegevens van het te wijzigen object verplicht"). A zaak created without
    an omschrijving (a template that came out empty) is named by the empty element with its noValue (3.4.1)."""
    _el(out, at.IDENTIFICATIE, identificatie)
    _el(out, at.OMSCHRIJVING, omschrijving, "geenWaarde")


ZAAKNIVEAU = "<ZKN:zaakniveau>1</ZKN:zaakniveau><ZKN:deelzakenIndicatie>N</ZKN:deelzakenIndicatie>"
"""Verplicht in a creeerZaak (ZDS 1.2 4.1.4.2, both v): a zaak of the chain is a zaak of its own (niveau 1, no
deelzaken); a toewijzing's relation to its aanvraag is heeftBetrekkingOpAndere, not a hoofdzaak's to a deelzaak."""


def _creeer(out: Parts, state: dict[str, Any]) -> None:
    a = state["attrs"]
    out.append('<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="T">')
    _el(out, at.IDENTIFICATIE, state["identificatie"])
    _el(out, at.OMSCHRIJVING, state["omschrijving"])
    _el(out, at.ATTRIBUTES["toelichting"], a["toelichting"])
    _kenmerk(out, a["kenmerk"], len(a["kenmerk"] or []))
    if a["resultaat"]:
        _attr(out, "resultaat", a["resultaat"])
    _el(out, at.ATTRIBUTES["startdatum"], a["startdatum"])
    _el(out, at.REGISTRATIEDATUM, state["registratiedatum"])
    _el(out, at.ATTRIBUTES["einddatumGepland"], a["einddatumGepland"])
    _el(out, at.ATTRIBUTES["einddatum"], a["einddatum"])
    out.append(ZAAKNIVEAU)
    _extras(out, at.ZAK_EXTRA, state["extra"])
    _is_van(out, state["zaaktype"])
    betrokkenen = state["betrokkenen"]
    for rol in ("belanghebbende", "gemachtigde"):
        for b in betrokkenen:
            if b["rol"] == rol:
                _betrokkene(out, b)
    _initiator(out, state["initiator"])
    if state.get("uitvoerende"):
        _uitvoerende(out, state["uitvoerende"])
    for b in betrokkenen:
        if b["rol"] == "overig":
            _betrokkene(out, b)
    for andere in state["andere"]:
        _andere(out, andere)
    out.append("</ZKN:object>")


def _andere(out: Parts, andere: dict[str, Any]) -> None:
    """A related zaak (verwerkingssoort I: it cannot be created through the relation) by its kerngegevens."""
    out.append('<ZKN:heeftBetrekkingOpAndere StUF:entiteittype="ZAKZAKBTR" StUF:verwerkingssoort="T">'
               '<ZKN:gerelateerde StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">'
               f'<ZKN:identificatie>{text(out, at.ANDERE, andere["identificatie"])}</ZKN:identificatie>')
    _el(out, at.OMSCHRIJVING, andere["omschrijving"], "geenWaarde")
    _is_van(out, andere["zaaktype"], "")
    out.append("</ZKN:gerelateerde></ZKN:heeftBetrekkingOpAndere>")


def _update_object(out: Parts, op: Operation, side: str) -> None:
    """One object of an updateZaak: W when an attribute changes, else I (StUF 03.01 5.2: "Als alleen relaties
    zijn gewijzigd, dan is de topfundamenteel alleen nodig voor de identificatie")."""
    vs = "W" if op.changes or op.extra_changes else "I"
    out.append(f'<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="{vs}">')
    _kern(out, op.zaak, op.omschrijving)
    for change in op.changes:
        count = max(len(change.old or []), len(change.new or [])) if change.name == "kenmerk" else 0
        _attr(out, change.name, getattr(change, side), count)
    if op.extra_changes:
        out.append("<StUF:extraElementen>")
        for change in op.extra_changes:
            old, new = change.old, change.new
            if isinstance(old, list) or isinstance(new, list):  # a repeatable name: same count on both sides
                olds, news = list(old or []), list(new or [])
                width = max(len(olds), len(news))
                mine = (olds if side == "old" else news) + [None] * width
                _extra(out, at.ZAK_EXTRA, change.name, mine[:width])
            else:
                _extra(out, at.ZAK_EXTRA, change.name, getattr(change, side))
        out.append("</StUF:extraElementen>")
    if op.zaaktype is not None:
        _is_van(out, op.zaaktype, "I")
    for relation in sorted(op.relation_changes, key=_schema_rank):
        _relation(out, relation, side == "old")
    out.append("</ZKN:object>")


RANK = ("belanghebbende", "gemachtigde", "initiator", "uitvoerende", "overig")
"""Relations of a ZAK object in the order of the StUF-ZKN schema."""


def _schema_rank(change: RelationChange) -> int:
    value = change.old if change.old is not None else change.new
    return RANK.index(value["rol"] if change.name == "betrokkene" else change.name)


def _relation(out: Parts, change: RelationChange, held: bool) -> None:
    """One changed relation on one side of a W (StUF 03.01 5.2.6): R (item 7) oud the held object with I, nieuw
    the new one; W (item 3) both with I and the changed data; T (item 2) oud empty; V (item 5) nieuw empty."""
    vs = change.verwerkingssoort
    value = change.old if held else change.new
    if change.name == "betrokkene":
        if value is None:
            _empty_relation(out, *ROLLEN[(change.old or change.new)["rol"]], vs)
        else:
            _betrokkene(out, value, vs)
    elif change.name == "initiator":
        _initiator(out, value, vs, "I" if held or vs == "W" else "T",
                   _initiator_changed(change) if vs == "W" else (False, []))
    else:
        _uitvoerende(out, value, vs, "I" if held else "T")


def _gezet_door(out: Parts, eenheid: Eenheid) -> None:
    """isGezetDoor: the OEH that set the status, known to the zaaksysteem (ZDS 1.2 4.1.3; VNG's verwerkingssoort
    table for actualiseerZaakstatus: isGezetDoor and its organisatorischeEenheid I). Configuration alone."""
    def write(mine: Parts) -> None:
        mine.append('<ZKN:isGezetDoor StUF:entiteittype="ZAKSTTBTR" StUF:verwerkingssoort="I"><ZKN:gerelateerde>'
                    '<ZKN:organisatorischeEenheid StUF:entiteittype="OEH" StUF:verwerkingssoort="I">')
        _el(mine, at.OEH_IDENTIFICATIE, eenheid.identificatie)
        _el(mine, at.OEH_NAAM, eenheid.naam)
        mine.append("</ZKN:organisatorischeEenheid></ZKN:gerelateerde></ZKN:isGezetDoor>")

    _block(out, ("isGezetDoor", eenheid.identificatie, eenheid.naam or ""), write)


def _statustype(out: Parts, status: dict[str, Any], zaaktype: dict[str, Any] | None) -> None:
    """The statustype a status points at, named by its kerngegevens (zkn0310 ``STT-kerngegevensKennisgeving``:
    zkt.code, zkt.omschrijving, volgnummer, code, omschrijving, ingangsdatumObject; StUF 03.01 5.2.4 "moeten altijd
    worden opgenomen"): the catalogue's, the ones it does not have as waardeOnbekend. ``zaaktype`` is the zaak's
    (None: a zaak stored before the ledger kept it, whose zkt.omschrijving is then unknown too)."""
    zkt = zaaktype["omschrijving"] if zaaktype is not None else None
    code, ingang = status.get("code"), status.get("ingangsdatum")

    def write(mine: Parts) -> None:
        mine.append('<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T">'
                    '<ZKN:gerelateerde StUF:entiteittype="STT" StUF:verwerkingssoort="I">')
        _el(mine, at.STATUS_ZAAKTYPE, status["zaaktype"])
        _el(mine, at.STATUS_ZAAKTYPE_OMSCHRIJVING, zkt, "waardeOnbekend")
        volgnummer = f"{int(status['volgnummer']):04d}"
        mine.append(f"<ZKN:volgnummer>{text(mine, at.STATUS_VOLGNUMMER, volgnummer)}</ZKN:volgnummer>")
        _el(mine, at.STATUS_CODE, code, "waardeOnbekend")
        _el(mine, at.STATUS_OMSCHRIJVING, status["omschrijving"])
        _el(mine, at.STATUS_INGANG, ingang, "waardeOnbekend")
        mine.append("</ZKN:gerelateerde>")

    _block(out, ("heeft", status["zaaktype"], zkt or "", str(status["volgnummer"]), code or "",
                 status["omschrijving"], ingang or ""), write)


def _status_object(out: Parts, op: Operation, side: str, gezet_door: Eenheid | None = None) -> None:
    """actualiseerZaakstatus: the zaak only identified (I, by its kerngegevens); the new status added (StUF 03.01
    5.2.6 item 2)."""
    out.append('<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="I">')
    _kern(out, op.zaak, op.omschrijving)
    if op.zaaktype is not None:
        _is_van(out, op.zaaktype, "I")
    if side == "old":
        out.append(f'<ZKN:heeft StUF:entiteittype="ZAKSTT" StUF:verwerkingssoort="T"{NILS["geenWaarde"]}/>')
    else:
        s = op.status
        assert s is not None
        _statustype(out, s, op.zaaktype)
        _el(out, at.STATUS_TOELICHTING, s["toelichting"])
        _el(out, at.STATUS_DATUM, s["datum"])
        if gezet_door is None:  # RenderSettings always has one; a caller of its own must give one too
            raise ValueError(f"a status needs gezet_door: {GEZET_DOOR_VERPLICHT}")
        _gezet_door(out, gezet_door)
        out.append("</ZKN:heeft>")
    out.append("</ZKN:object>")


HEADS: dict[tuple[tuple[Systeem, str], tuple[Systeem, str]], str] = {}
"""The start of a zakLk01 up to its referentienummer by (zender, ontvanger): settings and a gemeentecode, the
same for every output of a route; remembered once the guard passed its values (bounded by HEADS_MAX)."""
HEADS_MAX = 1024


def _head(out: Parts, zender: tuple[Systeem, str], ontvanger: tuple[Systeem, str]) -> None:
    head = HEADS.get((zender, ontvanger))
    if head is None:
        mine = parts([
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            f'<ZKN:zakLk01 xmlns:ZKN="{ZKN_NS}" xmlns:StUF="{STUF_NS}" xmlns:BG="{BG_NS}" xmlns:xsi="{XSI_NS}">',
            "<ZKN:stuurgegevens><StUF:berichtcode>Lk01</StUF:berichtcode>",
        ])
        _systeem(mine, "zender", *zender)
        _systeem(mine, "ontvanger", *ontvanger)
        head = "".join(mine)
        if guarded(mine) and len(HEADS) < HEADS_MAX:
            HEADS[(zender, ontvanger)] = head
    out.append(head)


def write(op: Operation, zender: tuple[Systeem, str], ontvanger: tuple[Systeem, str], referentienummer: str,
          moment: str, gezet_door: Eenheid | None = None) -> bytes:
    """One operation as a zakLk01 document; ``gezet_door``: the OEH a status is set by (isGezetDoor), which a
    status cannot go without (ZDS 1.2 §4.1.3.2); a creeerZaak or updateZaak does not use it."""
    out = parts([])
    _head(out, zender, ontvanger)
    out.append(f"<StUF:referentienummer>{text(out, at.REFERENTIENUMMER, referentienummer)}</StUF:referentienummer>"
               f"<StUF:tijdstipBericht>{text(out, at.TIJDSTIP_BERICHT, moment)}</StUF:tijdstipBericht>"
               "<StUF:entiteittype>ZAK</StUF:entiteittype></ZKN:stuurgegevens>")
    mutatie = "T" if op.kind == CREEER else "W"
    out.append(f"<ZKN:parameters><StUF:mutatiesoort>{mutatie}</StUF:mutatiesoort>"
               "<StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>")
    if op.kind == CREEER:
        assert op.state is not None
        _creeer(out, op.state)
    elif op.kind == UPDATE:
        _update_object(out, op, "old")
        _update_object(out, op, "new")
    else:
        _status_object(out, op, "old")
        _status_object(out, op, "new", gezet_door)
    out.append("</ZKN:zakLk01>\n")
    return "".join(out).encode("utf-8")
