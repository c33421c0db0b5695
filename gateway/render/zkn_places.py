"""Where each canonical field lands in profile zkn v2 (explain, and the field table of docs/canonical-spec.md).

Keys are canonical paths without list indexes (``clients.producten.omvang.volume``). A field with no place
says why it is not carried; the extraElement names are those of gateway/zaken/extraelementen.yaml.
"""

from __future__ import annotations

from functools import cache

ZAK = "ZKN:object/"
INI = ZAK + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
BTR = ZAK + "ZKN:heeftAlsBelanghebbende/"
ADRES = "BG:verblijfsadres/"
NAAMCODE = "not carried: naamgebruik (below) says which name is used"
HEADER = "not carried: a fact of the source message, not of the zaak (stuurgegevens are Overstap's own)"


def _x(name: str) -> str:
    return f'StUF:extraElement naam="{name}"'


def _person(prefix: str, root: str) -> dict[str, list[str]]:
    return {
        f"{prefix}naam.geslachtsnaam.naam": [root + "BG:geslachtsnaam"],
        f"{prefix}naam.geslachtsnaam.voorvoegsel": [root + "BG:voorvoegselGeslachtsnaam"],
        f"{prefix}naam.geslachtsnaam.naamcode": [NAAMCODE],
        f"{prefix}naam.voorletters": [root + "BG:voorletters"],
        f"{prefix}naam.voornamen": [root + "BG:voornamen"],
        f"{prefix}geslacht": [root + "BG:geslachtsaanduiding (0/1/2 -> O/M/V)"],
        f"{prefix}geboortedatum": [root + "BG:geboortedatum"],
        f"{prefix}geboortedatum_gebruik": [root + "BG:geboortedatum/@StUF:indOnvolledigeDatum (1/2/3 -> D/M/J)"],
        f"{prefix}contacten.adres.postcode": [root + ADRES + "BG:aoa.postcode (address 01, else 03/04)"],
        f"{prefix}contacten.adres.huisnummer": [root + ADRES + "BG:aoa.huisnummer"],
        f"{prefix}contacten.adres.huisletter": [root + ADRES + "BG:aoa.huisletter"],
        f"{prefix}contacten.adres.huisnummertoevoeging": [root + ADRES + "BG:aoa.huisnummertoevoeging"],
        f"{prefix}contacten.adres.straatnaam": [root + ADRES + "BG:gor.straatnaam (also BG:gor.openbareRuimteNaam)"],
        f"{prefix}contacten.adres.plaatsnaam": [root + ADRES + "BG:wpl.woonplaatsNaam"],
    }


ROL_EMAIL = ("ZKN:{rol}/StUF:extraElementen/" + _x("emailadres")
             + " (the first; ZDS 1.2 4.1.4.2: 'object . <ROL> . extraElement … naam = emailadres')")
NO_ROL_PLACE = ("not carried: ZDS 1.2 4.1.4.2 gives a ROL 'alle child elementen m.u.v. … extraElementen' and one "
                "extraElement only ('naam = emailadres'), and the NPS of a kennisgeving holds its kerngegevens only "
                "(zkn0310 NPS-zkn-kerngegevensKennisgeving): a relative's {what} has no place")


COR = ZAK + "ZKN:heeftAlsInitiator/ZKN:afwijkendCorrespondentieAdres/"
COR_PLACE = {"postcode": "BG:postcode", "huisnummer": "BG:aoa.huisnummer", "huisletter": "BG:aoa.huisletter",
             "huisnummertoevoeging": "BG:aoa.huisnummertoevoeging", "straatnaam": "BG:gor.straatnaam",
             "plaatsnaam": "BG:wpl.woonplaatsNaam"}


def _correspondentie(key: str) -> list[str]:
    """The client's address of Soort 02 goes to the initiator relation's afwijkendCorrespondentieAdres."""
    element = COR_PLACE.get(key.rpartition(".")[2]) if ".adres." in key else None
    return [COR + f"{element} (when the address is Soort 02, correspondentieadres)"] if element else []


PLACES: dict[str, list[str]] = {
    "wet": [ZAK + "ZKN:isVan (the zaaktype of the catalogue entry wet.kind)"],
    "soort": ["decides the operation: creeerZaak, updateZaak, actualiseerZaakstatus (docs/canonical-spec.md 3)"],
    "dagtekening": [ZAK + "ZKN:registratiedatum (creeerZaak only)",
                    ZAK + "ZKN:startdatum (of an aanvraag without ingangsdatum, only then)"],
    "antwoord.referentie_aanbieder": ["finds the aanvraagzaken the 319 answers (aanvraag:{gemeente}:{R}, then "
                                      "verzoek:{gemeente}:{R}:0, :1, ...); not carried itself"],
    "antwoord.verzoek_antwoord": [ZAK + "ZKN:einddatum (1 only: the 319's Dagtekening; 2, in onderzoek: no change)",
                                  ZAK + "ZKN:resultaat ('Afgewezen')",
                                  ZAK + "ZKN:heeft (the eindstatus, of each open aanvraagzaak answered)"],
    "antwoord.reden_afwijzing": [ZAK + "ZKN:resultaat ('Afgewezen: geen contract (3)')"],
    "clients.bsn": [INI + "BG:inp.bsn"],
    **{k: v + _correspondentie(k) for k, v in _person("clients.", INI).items()},
    "clients.contacten.telefoon.nummer": [_x("client.telefoonnummer") + " (the first)"],
    "clients.contacten.telefoon.landnummer": [_x("client.telefoon.landnummer") + " (of the first)"],
    "clients.contacten.emailadres": [ZAK + ROL_EMAIL.format(rol="heeftAlsInitiator")],
    "clients.clientnummer": [_x("client.nummer") + " (only when it is not the BSN)"],
    "clients.geheim": [_x("client.geheim")],
    "clients.naam.naamgebruik": [_x("client.naamgebruik")],
    "clients.naam.partnernaam.naam": [_x("client.partnernaam")],
    "clients.naam.partnernaam.voorvoegsel": [_x("client.partnernaam.voorvoegsel")],
    "clients.leefeenheid": [_x("client.leefeenheid")],
    "clients.communicatievorm": [_x("client.communicatievorm")],
    "clients.communicatietaal": [_x("client.communicatietaal")],
    "clients.juridische_status": [_x("client.juridische_status")],
    "clients.wettelijke_vertegenwoordiging": [_x("client.wettelijke_vertegenwoordiging")],
    "clients.gezagsdrager_bekend": [_x("client.gezagsdrager_bekend")],
    "clients.commentaar": [ZAK + "ZKN:toelichting ('Cliënt: ...')"],
    "clients.referentie_aanbieder": [ZAK + "ZKN:kenmerk (bron ReferentieAanbieder) of a 317 aanvraagzaak"],
    "clients.reden_verzoek": [_x("client.reden_verzoek")],
    "clients.relaties.soort": [BTR + "ZKN:code (when the soort makes a belanghebbende; else heeftAlsGemachtigde or "
                                     "heeftAlsOverigBetrokkene; also ZKN:omschrijving)"],
    **{k: [v[0] + " (when the relation is a belanghebbende; gemachtigde and overig alike)", *v[1:]]
       for k, v in _person("clients.relaties.", BTR + "ZKN:gerelateerde/ZKN:natuurlijkPersoon/").items()},
    "clients.relaties.contacten.emailadres": [ZAK + ROL_EMAIL.format(rol="heeftAlsBelanghebbende")
                                              + " (when the relation is a belanghebbende; gemachtigde and overig "
                                                "alike)"],
    "clients.relaties.contacten.telefoon.nummer": [NO_ROL_PLACE.format(what="telephone number")],
    "clients.relaties.contacten.telefoon.landnummer": [NO_ROL_PLACE.format(what="telephone number")],
    "clients.relaties.naam.naamgebruik": [NO_ROL_PLACE.format(what="naamgebruik")],
    "clients.relaties.naam.geslachtsnaam.naamcode": [NO_ROL_PLACE.format(what="naamcode (nor its naamgebruik)")],
    "clients.beschikking.nummer": [ZAK + "ZKN:kenmerk/ZKN:kenmerk (bron BeschikkingNummer, also a chain key)"],
    "clients.beschikking.afgiftedatum": [_x("beschikking.afgiftedatum")],
    "clients.beschikking.ingangsdatum": [_x("beschikking.ingangsdatum")],
    "clients.beschikking.einddatum": [_x("beschikking.einddatum")],
    "clients.beschikking.commentaar": [ZAK + "ZKN:toelichting ('Beschikking: ...')"],
    "clients.beschikking.grondslagen": [_x("beschikking.grondslag") + " (repeated per value)"],
    "clients.beschikking.beperkingen.categorie": [_x("beschikking.beperkingscategorie") + " (repeated per value)"],
    "clients.beschikking.producten.ingangsdatum": [_x("beschikt.ingangsdatum") + " (the beschikt product of the "
                                                                                "toewijzing's categorie and code)"],
    "clients.beschikking.producten.einddatum": [_x("beschikt.einddatum")],
    "clients.beschikking.producten.omvang.volume": [_x("beschikt.omvang.volume")],
    "clients.beschikking.producten.omvang.eenheid": [_x("beschikt.omvang.eenheid")],
    "clients.beschikking.producten.omvang.frequentie": [_x("beschikt.omvang.frequentie")],
    "clients.beschikking.producten.categorie": ["matched with the toewijzing line's product.categorie"],
    "clients.beschikking.producten.code": ["matched with the toewijzing line's product.code"],
    "clients.producten.beschikkingnummer": [ZAK + "ZKN:kenmerk/ZKN:kenmerk (bron BeschikkingNummer, also a chain "
                                                  "key)"],
    "clients.producten.beschikking_ingangsdatum": [_x("beschikking.ingangsdatum")],
    "clients.producten.toewijzingnummer": [ZAK + "ZKN:kenmerk/ZKN:kenmerk (bron ToewijzingNummer, also a chain key)",
                                           ZAK + "ZKN:identificatie ({gemeente}T{nummer})"],
    "clients.producten.referentie_aanbieder": [ZAK + "ZKN:kenmerk/ZKN:kenmerk (bron ReferentieAanbieder; the "
                                                     "aanvraagzaak key, and a 301's link to it)"],
    "clients.producten.categorie": [_x("product.categorie")],
    "clients.producten.code": [_x("product.code")],
    "clients.producten.ingangsdatum": [ZAK + "ZKN:startdatum (not in 305/307: there part of the chain key)"],
    "clients.producten.einddatum": [ZAK + "ZKN:einddatumGepland (unless the line ends the toewijzing of a zaak the "
                                          "receiver holds by its Dagtekening)",
                                    ZAK + "ZKN:einddatum (when the line ends the toewijzing by its Dagtekening: "
                                          "intrekking, ending RedenWijziging; a 307)"],
    "clients.producten.begindatum": [ZAK + "ZKN:heeft/ZKN:datumStatusGezet (305 status 'levering gestart')"],
    "clients.producten.toewijzingsdatum": [_x("toewijzing.tijdstip") + " (date part)"],
    "clients.producten.toewijzingstijd": [_x("toewijzing.tijdstip") + " (time part)"],
    "clients.producten.aanbieder": [ZAK + "ZKN:heeftAlsUitvoerende/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/"
                                          "BG:ann.identificatie (AGB, zero-padded to 17 digits)"],
    "clients.producten.gemeentecode": ["chain key and the gemeente prefix of ZKN:identificatie"],
    "clients.producten.omvang.volume": [_x("product.omvang.volume")],
    "clients.producten.omvang.eenheid": [_x("product.omvang.eenheid")],
    "clients.producten.omvang.frequentie": [_x("product.omvang.frequentie")],
    "clients.producten.budget": [_x("product.budget")],
    "clients.producten.leveringsvorm": [_x("product.leveringsvorm")],
    "clients.producten.reden_wijziging": [_x("toewijzing.reden_wijziging"),
                                          ZAK + "ZKN:resultaat (when the code ends the toewijzing)"],
    "clients.producten.reden_intrekking": [_x("toewijzing.reden_intrekking"),
                                           ZAK + "ZKN:resultaat (updateZaak that ends the zaak)"],
    "clients.producten.reden_beeindiging": [ZAK + "ZKN:heeft/ZKN:toelichting (307 status), ZKN:resultaat"],
    "clients.producten.verwijzer.type": [_x("verwijzer.type")],
    "clients.producten.verwijzer.naam": [_x("verwijzer.naam")],
    "clients.producten.verwijzer.zorgverlenercode": [_x("verwijzer.zorgverlenercode")],
    "clients.producten.commentaar": [ZAK + "ZKN:toelichting ('Product: ...')"],
    "clients.producten.raamcontract": [_x("product.raamcontract")],
    "clients.producten.status_aanlevering": [ZAK + "ZKN:heeft (305/307 lines with 3 only: the correcting status "
                                                   "'start levering ingetrokken')"],
    "clients.producten.verzoek_groep": [_x("aanvraag.verzoek_groep") + " (an 'ongewijzigd' line makes no zaak)"],
    "clients.producten.extra.NAME": [_x("vendor.NAME")],
    "clients.extra.NAME": [_x("vendor.NAME")],
    "clients.status_aanlevering": ["not carried: a 2.0 315 delivery status of the request message, not of a zaak"],
    "clients.contacten.soort": ["selects the verblijfsadres (01, else 03/04) and the afwijkendCorrespondentieAdres "
                                "of the initiator relation (02)"],
    "clients.relaties.contacten.soort": ["selects the relative's verblijfsadres (01, else 03/04)"],
    "clients.beschikking.beperkingen.duur": ["not carried: medical detail (privacy), kept out of zaak metadata"],
    "clients.beschikking.beperkingen.commentaar": ["not carried: medical free text (privacy)"],
    "clients.beschikking.beperkingen.scores.vraag": ["not carried: medical detail (privacy)"],
    "clients.beschikking.beperkingen.scores.score": ["not carried: medical detail (privacy)"],
    "clients.beschikking.beperkingen.scores.commentaar": ["not carried: medical free text (privacy)"],
    "clients.relaties.nummer": ["not carried: a number local to the message"],
    "clients.relaties.volgorde": ["not carried: the order of the relations in the message"],
}


def _generic(path: str) -> str:
    return ".".join(p for p in path.split(".") if not p.isdigit())


def stuf_places(path: str) -> list[str]:
    """Where a canonical field (``clients.0.producten.1.omvang.volume``) ends up in a v2 zakLk01."""
    generic = _generic(path)
    if generic in PLACES:
        return PLACES[generic]
    if generic.startswith(("clients.producten.extra.", "clients.extra.")):  # each vendor field by its own name
        return [_x("vendor." + generic.rsplit(".", 1)[1])]
    if "retourcode" in generic:
        return ["not carried: retours make no zaak mutation"]
    if generic in ("berichtcode", "versie", "afzender", "ontvanger", "identificatie", "tekenset",
                   "xsd_versie_basisschema", "xsd_versie_bericht", "identificatie_retour", "dagtekening_retour") \
            or generic.startswith("extra."):
        return [HEADER]
    return [NO_PLACE]


NO_PLACE = "not carried in profile zkn v2 (docs/canonical-spec.md 6 says why)"
NOT_CARRIED = "not carried in profile zkn"
"""How a ``dropped:`` line of ``overstap convert`` begins its reason (gateway/render/zkn_dropped.py)."""
SHORT = {
    NO_PLACE: "no place in the zaak messages (docs/canonical-spec.md 6)",
    NAAMCODE: "the naamgebruik says which name is used",
    **{NO_ROL_PLACE.format(what=what): f"a relative's {what} has no place in a ROL (ZDS 1.2 4.1.4.2)"
       for what in ("telephone number", "naamgebruik", "naamcode (nor its naamgebruik)")},
}
"""Reasons too long for one ``dropped:`` line, as that line gives them."""


def not_carried(path: str) -> str | None:
    """Why profile zkn does not carry the canonical field ``path`` (``clients.0.relaties.0.naam.naamgebruik``, or
    without indexes), as a ``dropped:`` line says it, or None when the field has a place: the reason of
    :data:`PLACES`, shortened. One table for the spec, ``explain`` and ``convert``, so the three cannot disagree."""
    return not_carried_field(_generic(path))


@cache  # a message names the same few dozen fields again and again
def not_carried_field(generic: str) -> str | None:
    """:func:`not_carried` of a path without list indexes (``clients.relaties.naam.naamgebruik``)."""
    text = stuf_places(generic)[0]
    if not text.startswith("not carried"):
        return None
    reason = SHORT.get(text) or text.removeprefix("not carried: ")
    if len(reason) > 120:  # a line an integrator reads in a terminal: the spec has the whole text
        reason = reason[:118].rsplit(" ", 1)[0] + " …"
    return f"{NOT_CARRIED}: {reason}"
