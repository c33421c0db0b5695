"""The places of a zakLk01 where the zkn writer (gateway/render/zkn.py) puts data values, each with the path
of the element whose XSD type the value must fit (the value guard, gateway/render/guard.py).

A path starts below ``ZKN:zakLk01``; elements that repeat a structure (a person in each relation, an
address group, extraElementen of an entity) get their own places, as their types may differ per relation.
"""

from __future__ import annotations

from dataclasses import dataclass

from .guard import Place

STUURGEGEVENS = "ZKN:stuurgegevens/"
ZAK = "ZKN:object/"
EXTRA = "StUF:extraElementen/StUF:extraElement"


@dataclass(frozen=True, slots=True)
class SysteemPlaces:
    organisatie: Place
    applicatie: Place
    administratie: Place


def _systeem(tag: str) -> SysteemPlaces:
    return SysteemPlaces(*(Place(f"{STUURGEGEVENS}StUF:{tag}/StUF:{name}")
                           for name in ("organisatie", "applicatie", "administratie")))


ZENDER, ONTVANGER = _systeem("zender"), _systeem("ontvanger")
REFERENTIENUMMER = Place(STUURGEGEVENS + "StUF:referentienummer")
TIJDSTIP_BERICHT = Place(STUURGEGEVENS + "StUF:tijdstipBericht")


@dataclass(frozen=True, slots=True)
class ExtraPlaces:
    """The ``StUF:extraElement`` of one entity: its text and its ``naam`` attribute."""

    value: Place
    naam: Place


def _extra(prefix: str) -> ExtraPlaces:
    return ExtraPlaces(Place(prefix + EXTRA), Place(prefix + EXTRA, attribute="naam"))


Layout = tuple[tuple[Place, str | None, str], ...]
"""An address group in schema order: (place, key of the state's address or None, noValue when absent)."""


def _layout(prefix: str, fields: tuple[tuple[str, str | None, str], ...]) -> Layout:
    return tuple((Place(prefix + element), key, missing) for element, key, missing in fields)


VERBLIJFSADRES = (
    ("BG:aoa.identificatie", None, "waardeOnbekend"), ("BG:wpl.woonplaatsNaam", "woonplaats", "waardeOnbekend"),
    ("BG:gor.openbareRuimteNaam", "straatnaam", "waardeOnbekend"),
    ("BG:gor.straatnaam", "straatnaam", "waardeOnbekend"),
    ("BG:aoa.postcode", "postcode", "waardeOnbekend"), ("BG:aoa.huisnummer", "huisnummer", "waardeOnbekend"),
    ("BG:aoa.huisletter", "huisletter", "geenWaarde"), ("BG:aoa.huisnummertoevoeging", "toevoeging", "geenWaarde"))
"""BG:verblijfsadres in schema order."""
CORRESPONDENTIEADRES = (
    ("BG:wpl.woonplaatsNaam", "woonplaats", "waardeOnbekend"), ("BG:postcode", "postcode", "waardeOnbekend"),
    ("BG:gor.openbareRuimteNaam", "straatnaam", "waardeOnbekend"),
    ("BG:gor.straatnaam", "straatnaam", "waardeOnbekend"),
    ("BG:aoa.huisnummer", "huisnummer", "waardeOnbekend"), ("BG:aoa.huisletter", "huisletter", "geenWaarde"),
    ("BG:aoa.huisnummertoevoeging", "toevoeging", "geenWaarde"))
"""BG:CorrespondentieAdresGrp-basis in schema order (typering not sent: iWmo does not say which)."""


@dataclass(frozen=True, slots=True)
class RelationPlaces:
    """A ZAK relation to a natuurlijk persoon: the person's kerngegevens and address, the relation's own
    code, omschrijving and extraElementen; the initiator also its afwijkendCorrespondentieAdres."""

    tag: str
    bsn: Place
    geslachtsnaam: Place
    voorvoegsel: Place
    voorletters: Place
    voornamen: Place
    geslacht: Place
    geboortedatum: Place
    verblijfsadres: Layout
    code: Place
    omschrijving: Place
    extra: ExtraPlaces
    correspondentie: Layout = ()


def _relation(tag: str) -> RelationPlaces:
    own = f"{ZAK}ZKN:{tag}/"
    nps = own + "ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    return RelationPlaces(
        tag, Place(nps + "BG:inp.bsn"), Place(nps + "BG:geslachtsnaam"), Place(nps + "BG:voorvoegselGeslachtsnaam"),
        Place(nps + "BG:voorletters"), Place(nps + "BG:voornamen"), Place(nps + "BG:geslachtsaanduiding"),
        Place(nps + "BG:geboortedatum"), _layout(nps + "BG:verblijfsadres/", VERBLIJFSADRES),
        Place(own + "ZKN:code"), Place(own + "ZKN:omschrijving"), _extra(own),
        _layout(own + "ZKN:afwijkendCorrespondentieAdres/", CORRESPONDENTIEADRES) if tag == "heeftAlsInitiator"
        else ())


INITIATOR = _relation("heeftAlsInitiator")
RELATIONS = {rol: _relation(tag) for rol, tag in (("belanghebbende", "heeftAlsBelanghebbende"),
                                                  ("gemachtigde", "heeftAlsGemachtigde"),
                                                  ("overig", "heeftAlsOverigBetrokkene"))}
"""A betrokkene's rol -> the places of its relation."""

IDENTIFICATIE = Place(ZAK + "ZKN:identificatie")
OMSCHRIJVING = Place(ZAK + "ZKN:omschrijving")
REGISTRATIEDATUM = Place(ZAK + "ZKN:registratiedatum")
KENMERK = Place(ZAK + "ZKN:kenmerk/ZKN:kenmerk")
KENMERK_BRON = Place(ZAK + "ZKN:kenmerk/ZKN:bron")
RESULTAAT = Place(ZAK + "ZKN:resultaat/ZKN:omschrijving")
ATTRIBUTES = {name: Place(ZAK + f"ZKN:{name}") for name in ("toelichting", "startdatum", "einddatumGepland",
                                                            "einddatum")}
"""The plain ZAK attributes a creeerZaak writes and an updateZaak may change (gateway.zaken.state.ATTRS)."""
ZAK_EXTRA = _extra(ZAK)
ZAAKTYPE = ZAK + "ZKN:isVan/ZKN:gerelateerde/"
ZAAKTYPE_OMSCHRIJVING = Place(ZAAKTYPE + "ZKN:omschrijving")
ZAAKTYPE_CODE = Place(ZAAKTYPE + "ZKN:code")
ZAAKTYPE_INGANG = Place(ZAAKTYPE + "ZKN:ingangsdatumObject")
AGB = Place(ZAK + "ZKN:heeftAlsUitvoerende/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/BG:ann.identificatie")
ANDERE = Place(ZAK + "ZKN:heeftBetrekkingOpAndere/ZKN:gerelateerde/ZKN:identificatie")
STATUS = ZAK + "ZKN:heeft/"
STATUS_ZAAKTYPE = Place(STATUS + "ZKN:gerelateerde/ZKN:zkt.code")
STATUS_ZAAKTYPE_OMSCHRIJVING = Place(STATUS + "ZKN:gerelateerde/ZKN:zkt.omschrijving")
STATUS_VOLGNUMMER = Place(STATUS + "ZKN:gerelateerde/ZKN:volgnummer")
STATUS_CODE = Place(STATUS + "ZKN:gerelateerde/ZKN:code")
STATUS_OMSCHRIJVING = Place(STATUS + "ZKN:gerelateerde/ZKN:omschrijving")
STATUS_INGANG = Place(STATUS + "ZKN:gerelateerde/ZKN:ingangsdatumObject")
STATUS_TOELICHTING = Place(STATUS + "ZKN:toelichting")
STATUS_DATUM = Place(STATUS + "ZKN:datumStatusGezet")
OEH = STATUS + "ZKN:isGezetDoor/ZKN:gerelateerde/ZKN:organisatorischeEenheid/"
OEH_IDENTIFICATIE = Place(OEH + "ZKN:identificatie")
OEH_NAAM = Place(OEH + "ZKN:naam")


def every_place() -> list[Place]:
    """Every place above (the tests resolve each against the XSD)."""
    found: list[Place] = []
    for value in globals().values():
        found += _places(value)
    for relation in RELATIONS.values():
        found += _places(relation)
    return list({id(p): p for p in found}.values())


def _places(value: object) -> list[Place]:
    if isinstance(value, Place):
        return [value]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _places(v)]
    if isinstance(value, tuple):
        return [p for v in value for p in _places(v)]
    if hasattr(value, "__dataclass_fields__") and not isinstance(value, type):
        return [p for name in value.__dataclass_fields__ for p in _places(getattr(value, name))]
    return []
