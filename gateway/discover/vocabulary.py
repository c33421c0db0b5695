"""What vendors call things: element names and code words seen in pilotstarter-era exports.

``scaffold`` uses this when a cluster shares no structure with any built-in dialect (a flat export,
a portal's own XML): it looks for each canonical field under the names below, in order, and turns
code words into codes with the labels below. Every hit is written as a GUESS for the integrator to
confirm, so a wrong entry here costs a review comment, not a wrong conversion. New names go here
as vendors are onboarded.
"""

from __future__ import annotations

from gateway.model.codes import EENHEID_LABELS, FREQUENTIE_LABELS

CLIENT_GROUP = ("clienten/client", "client", "clienten/clientgegevens", "clientgegevens")
PRODUCT_GROUP = ("toegewezenproducten/toegewezenproduct", "toegewezenproduct", "product", "toewijzing",
                 "regel", "zorgregel", "productregel")
ADDRESS_FIELDS = {
    "adres.straatnaam": ("straatnaam", "straat"),
    "adres.huisnummer": ("huisnummer",),
    "adres.huisletter": ("huisletter",),
    "adres.postcode": ("postcode",),
    "adres.plaatsnaam": ("plaatsnaam", "plaats", "woonplaats"),
}
PHONE = ("telefoonnummer", "telefoon", "tel")

TOP_FIELDS: dict[str, tuple[str, ...]] = {
    "berichtcode": ("berichtcode", "code"),
    "versie": ("versie",),
    "afzender": ("afzender", "gemeente", "gemeentecode", "van"),
    "ontvanger": ("ontvanger", "aanbieder", "agb", "aan"),
    "identificatie": ("identificatie", "berichtid", "kenmerk", "berichtkenmerk"),
    "dagtekening": ("dagtekening", "aangemaakt", "berichtdatum", "datum"),
}
"""Message header fields, by the last element name(s) of their path (any container above them)."""

CLIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "bsn": ("bsn", "burgerservicenummer"),
    "naam.geslachtsnaam.naam": ("achternaam", "geslachtsnaam", "familienaam", "naam"),
    "naam.geslachtsnaam.voorvoegsel": ("voorvoegsel", "tussenvoegsel"),
    "naam.voorletters": ("voorletters",),
    "naam.voornamen": ("voornamen",),
    "naam.naamgebruik": ("naamgebruik",),
    "geboortedatum": ("geboortedatum", "geboren"),
    "geslacht": ("geslacht", "sekse"),
    "beschikking.nummer": ("beschikking/nummer", "beschikking/beschikkingnummer", "beschikkingnummer"),
    "beschikking.afgiftedatum": ("beschikking/afgegeven", "beschikking/afgiftedatum", "beschikkingafgegeven"),
    "beschikking.ingangsdatum": ("beschikking/van", "beschikking/ingangsdatum", "beschikkingvan",
                                 "beschikkingingangsdatum"),
    "beschikking.einddatum": ("beschikking/tot", "beschikking/einddatum", "beschikkingtot", "beschikkingeinddatum"),
}

PRODUCT_FIELDS: dict[str, tuple[str, ...]] = {
    "categorie": ("categorie", "@categorie", "productcategorie"),
    "code": ("code", "@code", "productcode", "product"),
    "aanbieder": ("aanbieder",),
    "toewijzingsdatum": ("toewijzingsdatum", "tijdstip"),
    "toewijzingstijd": ("toewijzingstijd", "tijdstip"),
    "ingangsdatum": ("ingangsdatum", "van"),
    "einddatum": ("einddatum", "tot"),
    "reden_intrekking": ("redenintrekking",),
    "omvang.volume": ("volume", "hoeveelheid", "aantal"),
    "omvang.eenheid": ("eenheid",),
    "omvang.frequentie": ("frequentie", "per"),
    "budget": ("budget", "bedrag"),
}

LABELS: dict[str, dict[str, str]] = {
    "geslacht": {"m": "1", "man": "1", "v": "2", "vrouw": "2", "o": "0", "onbekend": "0"},
    "eenheid": {label: code for code, label in EENHEID_LABELS.items()} | {"minuten": "01", "uren": "04"},
    "frequentie": {label: code for code, label in FREQUENTIE_LABELS.items()}
    | {"per 4 weken": "3", "totaal": "6", "per periode": "6"},
    "naamgebruik": {"eigen naam": "1", "naam partner": "2", "partnernaam": "2", "partner en eigen naam": "3",
                    "eigen en partner naam": "4"},
}
"""Code words -> codes of the canonical code lists (COD046, WMO756, WMO757, COD700), compared lower case."""


def code_for(field: str, word: str) -> str | None:
    """The code a vendor's word stands for, or None when the word is not known."""
    return LABELS.get(field, {}).get(word.strip().lower())
