"""The state a receiving zaaksysteem should hold for one zaak unit, built from a message (pure).

The state is plain JSON so the ledger can store it as it was delivered; ``plan`` compares the state a
message asks for with the stored one to decide between creeerZaak, updateZaak and a status. Every datum
has one place: a ZAK attribute, a relation (initiator, uitvoerende, betrokkenen), or a registered flat
extraElement (gateway/zaken/extraelementen.yaml).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.model import Bericht, Client, Product
from gateway.model.bericht import Contact, Naam, Relatie

from .catalogue import Zaaktype
from .units import Unit, beschikkingnummer, clock
from .units import day as _day

JsonDict = dict[str, Any]

ENDING_REDEN_WIJZIGING = frozenset({"02", "06", "07", "09", "13"})
"""RedenWijziging codes (2.1+) after which a toewijzing no longer runs: overleden, uitstroom, verhuizing,
andere aanbieder, verwijderd. A 2.0 RedenIntrekking always withdraws."""

GEMACHTIGDE = frozenset({"03", "04", "11", "14", "15"})  # curator, financieel gemachtigd, voogd, bewindvoerder, mentor
BELANGHEBBENDE = frozenset({"06", "10", "12", "13", "16", "17", "18"})  # household, parent, partner, family
RELATIE_LABEL = {
    "03": "Curator", "04": "Financieel (gemachtigd)", "05": "Financieel (toetsing)", "06": "Lid leefeenheid",
    "07": "Zorgverlener", "08": "Specialist", "09": "Anders", "10": "Ouder", "11": "Voogd", "12": "Partner",
    "13": "Pleegouder", "14": "Bewindvoerder", "15": "Mentor", "16": "Zoon/dochter", "17": "Familielid",
    "18": "Gezinslid", "19": "Buur", "20": "Kennis", "21": "Cliëntondersteuner", "22": "Huisarts",
    "23": "Erven", "24": "Werkgever", "25": "Wijkcoach",
}
ATTRS = ("toelichting", "kenmerk", "resultaat", "startdatum", "einddatumGepland", "einddatum")
"""ZAK attributes a W may change, in schema order; omschrijving and registratiedatum are set once (T)."""


def yyyymmdd(value: dt.date | None) -> str | None:
    return _day(value) if value is not None else None


def ends(product: Product) -> bool:
    """A 301 line that withdraws or ends its toewijzing."""
    return product.reden_intrekking is not None or product.reden_wijziging in ENDING_REDEN_WIJZIGING


def _put(extra: JsonDict, name: str, value: Any) -> None:
    if value.__class__ is str:  # most values (~35 a unit): as the general path below stores them
        if value:
            extra[name] = value
        return
    if value.__class__ is dt.date:  # the next most (~6 a unit): as _text stores them
        extra[name] = _day(value)
        return
    if value is None or value == "" or value == []:
        return
    if isinstance(value, list):
        extra[name] = [_text(v) for v in value]
    else:
        extra[name] = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, dt.date):
        return _day(value)
    if isinstance(value, dt.time):
        return clock(value)
    return str(value)


VERBLIJF = ("01", "03", "04")
"""The address soorten a person's verblijfsadres is taken from, in this order: BRP address, places of stay."""
CORRESPONDENTIE = ("02",)
"""The soort of the client's correspondence address (the initiator relation's afwijkendCorrespondentieAdres)."""


def chosen_contact(contacten: list[Contact], soorten: tuple[str, ...] = VERBLIJF) -> int | None:
    """The index of the contact whose address a zaak carries for ``soorten`` (the first of the first soort with a
    postcode or street), or None: one place decides it, for the state and for what ``convert`` names as dropped
    (gateway/render/zkn_dropped.py)."""
    for soort in soorten:
        for i, c in enumerate(contacten):
            if c.soort == soort and c.adres is not None and (c.adres.postcode or c.adres.straatnaam):
                return i
    return None


def _adres(contacten: list[Contact], soorten: tuple[str, ...] = VERBLIJF) -> JsonDict | None:
    """The verblijfsadres: the BRP address (01), else the place of stay (03, 04); with ``soorten=("02",)``
    the correspondence address."""
    at = chosen_contact(contacten, soorten)
    if at is None:
        return None
    a = contacten[at].adres
    assert a is not None  # chosen_contact takes a contact with an address only
    found: JsonDict = {}  # the fields that have a value, in this order
    if a.plaatsnaam:
        found["woonplaats"] = a.plaatsnaam
    if a.straatnaam:
        found["straatnaam"] = a.straatnaam
    if a.postcode:
        found["postcode"] = a.postcode
    if a.huisnummer:  # BG: 1..99999; 0 is no number
        found["huisnummer"] = str(a.huisnummer)
    if a.huisletter:
        found["huisletter"] = a.huisletter
    if a.huisnummertoevoeging:
        found["toevoeging"] = a.huisnummertoevoeging
    return found


def _person(naam: Naam | None, geboortedatum: dt.date | None, gebruik: str | None, geslacht: str | None,
            contacten: list[Contact]) -> JsonDict:
    return {
        "geslachtsnaam": naam.geslachtsnaam.naam if naam else None,
        "voorvoegsel": naam.geslachtsnaam.voorvoegsel if naam else None,
        "voorletters": naam.voorletters if naam else None,
        "voornamen": naam.voornamen if naam else None,
        "geslacht": geslacht,
        "geboortedatum": yyyymmdd(geboortedatum),
        "geboortedatum_gebruik": gebruik,
        "adres": _adres(contacten),
        "known": naam is not None,
    }


ROL_EMAIL = "emailadres"
"""The one extraElement a ROL relation (the initiator, a betrokkene) carries: ZDS 1.2 4.1.4.2 excepts
extraElementen from every ROL's "alle child elementen" but one, "object . <ROL> . extraElement — Indien
betrokkene in ROL een correspondentie-email adres specifiek voor deze zaak heeft. naam = emailadres"."""


def _first_email(contacten: list[Contact]) -> str | None:
    for c in contacten:  # a loop: no generator a value
        if c.emailadres:
            return c.emailadres
    return None


def _telefoon_extra(contacten: list[Contact], extra: JsonDict) -> None:
    """The client's first telephone number as ZAK extraElementen (ZDS 1.2 gives a ROL no place for one)."""
    for c in contacten:
        if c.telefoon:
            telefoon = c.telefoon[0]
            _put(extra, "client.telefoonnummer", telefoon.nummer)
            _put(extra, "client.telefoon.landnummer", telefoon.landnummer)
            return


def rol_extra(contacten: list[Contact], drop_contact: bool) -> JsonDict:
    """A ROL relation's extraElementen: the person's first e-mail address as ``emailadres`` (:data:`ROL_EMAIL`),
    nothing else; none when the zaaktype drops contact data (privacy)."""
    extra: JsonDict = {}
    if not drop_contact:
        _put(extra, ROL_EMAIL, _first_email(contacten))
    return extra


def betrokkene(relatie: Relatie, drop_contact: bool) -> JsonDict:
    """A relative as a betrokkene relation. Its naamgebruik and telephone number are not kept: ZDS 1.2 4.1.4.2 gives
    a ROL no extraElement but ``emailadres``, and the NPS of a kennisgeving holds only its kerngegevens
    (zkn0310 ``NPS-zkn-kerngegevensKennisgeving``); docs/canonical-spec.md 5 lists them as dropped."""
    rol = ("gemachtigde" if relatie.soort in GEMACHTIGDE else
           "belanghebbende" if relatie.soort in BELANGHEBBENDE else "overig")
    extra = rol_extra(relatie.contacten, drop_contact)
    return {"rol": rol, "code": relatie.soort, "omschrijving": RELATIE_LABEL.get(relatie.soort, relatie.soort),
            "persoon": _person(relatie.naam, relatie.geboortedatum, relatie.geboortedatum_gebruik, relatie.geslacht,
                               relatie.contacten),
            "extra": extra}


TOELICHTING_MAX = 1000
"""A ZAK's toelichting holds at most 1000 characters (zkn0310 ``Toelichting``)."""
TOELICHTING_SEPARATOR = " | "


def toelichting_parts(client: Client, product: Product | None) -> list[tuple[str, str]]:
    """(field under the client, text) of each commentaar the zaak's toelichting joins, in its order: the
    beschikking's, the product line's (``producten.commentaar``), the client's."""
    parts = []
    if client.beschikking is not None and client.beschikking.commentaar:
        parts.append(("beschikking.commentaar", f"Beschikking: {client.beschikking.commentaar}"))
    if product is not None and product.commentaar:
        parts.append(("producten.commentaar", f"Product: {product.commentaar}"))
    if client.commentaar:
        parts.append(("commentaar", f"Cliënt: {client.commentaar}"))
    return parts


def _toelichting(client: Client, product: Product | None) -> str | None:
    parts = toelichting_parts(client, product)
    return TOELICHTING_SEPARATOR.join(text for _, text in parts)[:TOELICHTING_MAX] if parts else None


def _client_extra(client: Client, extra: JsonDict, drop_contact: bool) -> None:
    if client.clientnummer != client.bsn:  # a 2.0 Clientnummer equal to the BSN is that datum again
        _put(extra, "client.nummer", client.clientnummer)
    _put(extra, "client.geheim", client.geheim)
    _put(extra, "client.leefeenheid", client.leefeenheid)
    _put(extra, "client.communicatievorm", client.communicatievorm)
    _put(extra, "client.communicatietaal", client.communicatietaal)
    _put(extra, "client.juridische_status", client.juridische_status)
    _put(extra, "client.wettelijke_vertegenwoordiging", client.wettelijke_vertegenwoordiging)
    _put(extra, "client.gezagsdrager_bekend", client.gezagsdrager_bekend)
    if client.naam is not None:
        _put(extra, "client.naamgebruik", client.naam.naamgebruik)
        if client.naam.partnernaam is not None:
            _put(extra, "client.partnernaam", client.naam.partnernaam.naam)
            _put(extra, "client.partnernaam.voorvoegsel", client.naam.partnernaam.voorvoegsel)
    if not drop_contact:  # the e-mail address goes on heeftAlsInitiator (rol_extra)
        _telefoon_extra(client.contacten, extra)
    for key, value in client.extra.items():
        _put(extra, f"vendor.{key}", value)


def _product_extra(client: Client, product: Product, extra: JsonDict) -> None:
    _put(extra, "product.categorie", product.categorie)
    _put(extra, "product.code", product.code)
    if product.omvang is not None:
        _put(extra, "product.omvang.volume", product.omvang.volume)
        _put(extra, "product.omvang.eenheid", product.omvang.eenheid)
        _put(extra, "product.omvang.frequentie", product.omvang.frequentie)
    _put(extra, "product.budget", product.budget)
    _put(extra, "product.leveringsvorm", product.leveringsvorm)
    _put(extra, "product.raamcontract", product.raamcontract)
    if product.toewijzingsdatum is not None:
        _put(extra, "toewijzing.tijdstip", _text(product.toewijzingsdatum)
             + (_text(product.toewijzingstijd) if product.toewijzingstijd else ""))
    _put(extra, "toewijzing.reden_wijziging", product.reden_wijziging)
    _put(extra, "toewijzing.reden_intrekking", product.reden_intrekking)
    if product.verwijzer is not None:
        _put(extra, "verwijzer.type", product.verwijzer.type)
        _put(extra, "verwijzer.naam", product.verwijzer.naam)
        _put(extra, "verwijzer.zorgverlenercode", product.verwijzer.zorgverlenercode)
    _put(extra, "aanvraag.verzoek_groep", product.verzoek_groep)
    for key, value in product.extra.items():
        _put(extra, f"vendor.{key}", value)
    beschikking = client.beschikking
    if beschikking is not None:
        _put(extra, "beschikking.afgiftedatum", beschikking.afgiftedatum)
        _put(extra, "beschikking.ingangsdatum", beschikking.ingangsdatum)
        _put(extra, "beschikking.einddatum", beschikking.einddatum)
        _put(extra, "beschikking.grondslag", list(beschikking.grondslagen))
        _put(extra, "beschikking.beperkingscategorie", [b.categorie for b in beschikking.beperkingen])
        granted = None  # the beschikt product of this line's categorie and code (a loop: no generator)
        for b in beschikking.producten:
            if b.categorie == product.categorie and (b.code or None) == (product.code or None):
                granted = b
                break
        if granted is not None:
            _put(extra, "beschikt.ingangsdatum", granted.ingangsdatum)
            _put(extra, "beschikt.einddatum", granted.einddatum)
            if granted.omvang is not None:
                _put(extra, "beschikt.omvang.volume", granted.omvang.volume)
                _put(extra, "beschikt.omvang.eenheid", granted.omvang.eenheid)
                _put(extra, "beschikt.omvang.frequentie", granted.omvang.frequentie)
    elif product.beschikking_ingangsdatum is not None:
        _put(extra, "beschikking.ingangsdatum", product.beschikking_ingangsdatum)


def resultaat(product: Product) -> str:
    if product.reden_intrekking is not None:
        return f"Toewijzing ingetrokken (RedenIntrekking {product.reden_intrekking})"
    return f"Toewijzing beëindigd (RedenWijziging {product.reden_wijziging})"


def omschrijving(bericht: Bericht, unit: Unit, template: str | None = None) -> str:
    """The zaak omschrijving (max 80): ``{Wet} {kind} {product}`` or the configured template."""
    client = bericht.clients[unit.client_index]
    product = client.producten[unit.line_index]
    wet = "Wmo" if bericht.wet == "wmo" else "Jeugdwet"
    label = product.code or (f"categorie {product.categorie}" if product.categorie else "budget")
    if not template:  # the default's text without the table of every field a template may name
        return f"{wet} {unit.kind} {label}"[:80]
    values = {
        "Wet": wet, "wet": bericht.wet, "kind": unit.kind, "product": label,
        "client": unit.client_index + 1, "gemeente": unit.gemeente, "aanbieder": unit.aanbieder,
        "beschikking": beschikkingnummer(client, product) or "",
    }
    return template.format(**values)[:80]


def desired(bericht: Bericht, unit: Unit, zaaktype: Zaaktype, template: str | None = None) -> JsonDict:
    """The full state of a 301/315/317 unit as the message describes it (not yet compared with anything), but for
    its identificatie (None here: the ledger decides it), so it depends on the message only and can be worked
    out where the message is (a batch worker) and handed over as plain data.

    A 301 line that ends its toewijzing closes the zaak only when its Einddatum is not after the Dagtekening:
    a zaak is afgehandeld when its uitvoering is over (ZDS 1.2 4.1.3), so an end still to come is the zaak's
    einddatumGepland and the 307 that stops the delivery closes it. ``ends`` tells the planner the line ends
    the toewijzing either way; it is not part of the state.

    einddatumGepland is the line's Einddatum also when the line ends the zaak at once: a zaak the receiver never had
    is created with it (ZDS 1.2 4.1.4.2 lists ``object . einddatumGepland`` on creeerZaak) and then ended, so its
    creeerZaak, what the way back reads, still says when the toewijzing ends; a known zaak keeps the one it holds."""
    client = bericht.clients[unit.client_index]
    product = client.producten[unit.line_index]
    drop = zaaktype.drop
    kenmerk: list[list[str]] = []
    nummer = beschikkingnummer(client, product)
    if nummer:
        kenmerk.append([nummer, "BeschikkingNummer"])
    if product.toewijzingnummer:
        kenmerk.append([product.toewijzingnummer, "ToewijzingNummer"])
    ref = product.referentie_aanbieder or (client.referentie_aanbieder if unit.kind == "aanvraag" else None)
    if ref:
        kenmerk.append([ref, "ReferentieAanbieder"])
    ending = unit.event == "toewijzing" and ends(product)
    einde = yyyymmdd(product.einddatum)
    dag = yyyymmdd(bericht.dagtekening)
    closes = ending and not (einde is not None and dag is not None and einde > dag)
    start = product.ingangsdatum or (client.beschikking.ingangsdatum if client.beschikking else None)
    extra: JsonDict = {}
    _product_extra(client, product, extra)
    _client_extra(client, extra, "contact" in drop)
    _put(extra, "client.reden_verzoek", client.reden_verzoek)
    return {
        "identificatie": None,
        "kind": unit.kind,
        "zaaktype": {"code": zaaktype.code, "omschrijving": zaaktype.omschrijving,
                     "ingangsdatum": zaaktype.ingangsdatum},
        "omschrijving": omschrijving(bericht, unit, template),
        "registratiedatum": yyyymmdd(bericht.dagtekening),
        "attrs": {
            "toelichting": None if "toelichting" in drop else _toelichting(client, product),
            "kenmerk": kenmerk or None,
            "resultaat": resultaat(product) if closes else None,
            "startdatum": yyyymmdd(start) or dag,
            "einddatumGepland": einde,
            "einddatum": (einde or dag) if closes else None,
        },
        "ends": ending,
        "extra": extra,
        "initiator": {"bsn": client.bsn, **_person(client.naam, client.geboortedatum, client.geboortedatum_gebruik,
                                                    client.geslacht, client.contacten),
                      "correspondentie": _adres(client.contacten, CORRESPONDENTIE),
                      "extra": rol_extra(client.contacten, "contact" in drop)},
        "uitvoerende": unit.aanbieder,
        "betrokkenen": [] if "betrokkenen" in drop else [betrokkene(r, "contact" in drop) for r in client.relaties],
        "andere": [],
        "statussen": [],
        "keys": list(unit.keys),
    }
