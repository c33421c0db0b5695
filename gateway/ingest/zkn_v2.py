"""Read a profile zkn v2 ``creeerZaak`` zakLk01 back into a canonical 301 or 315 (the way back, lossy by design).

A v2 zaak is one toewijzing (or aanvraag) line; it carries no message header. The header is rebuilt from the
zaak: gemeente = the identificatie's prefix, aanbieder = the uitvoerende's AGB, identificatie = the zaak
identificatie, dagtekening = registratiedatum, wet and kind from the zaaktype (catalogue). docs/canonical-spec.md
9 lists what v2 no longer carries and so cannot come back (header facts, naamcode, relation numbers, ...).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

from lxml import etree

from gateway.model import Bericht

from .errors import InputError
from .zkn import validated

ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
BG = "{http://www.egem.nl/StUF/sector/bg/0310}"
GESLACHT = {"O": "0", "M": "1", "V": "2"}
GEBRUIK = {"D": "1", "M": "2", "J": "3"}
BERICHTCODE = {("wmo", "toewijzing"): "414", ("wmo", "verzoek"): "444", ("jw", "toewijzing"): "436",
               ("jw", "verzoek"): "446"}


def is_v2(root: etree._Element) -> bool:
    """A v2 zakLk01 names its extraElementen flat (no ``bericht.``/``client.N`` canonical paths) and has kenmerk
    or an uitvoerende; a v1 one carries ``bericht.*`` extraElementen."""
    names = [e.get("naam") or "" for e in root.iter(f"{STUF}extraElement")]
    return not any(n.startswith("bericht.") for n in names)


def _short(ident: str) -> str:
    """A BerichtIdentificatie (2.x: max 12 characters) made from the zaak identificatie, the same every time."""
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _date(text: str | None) -> dt.date | None:
    if not text or len(text) < 8 or not text[:8].isdigit():
        return None
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _person(node: etree._Element | None) -> dict[str, Any]:
    if node is None:
        return {}
    get = node.findtext
    out: dict[str, Any] = {}
    naam = get(f"{BG}geslachtsnaam")
    if naam:
        out["naam"] = {"geslachtsnaam": {"naam": naam, "voorvoegsel": get(f"{BG}voorvoegselGeslachtsnaam") or None},
                       "voorletters": get(f"{BG}voorletters") or None, "voornamen": get(f"{BG}voornamen") or None}
    if get(f"{BG}geslachtsaanduiding"):
        out["geslacht"] = GESLACHT.get(get(f"{BG}geslachtsaanduiding") or "", "0")
    born = node.find(f"{BG}geboortedatum")
    if born is not None and born.text:
        out["geboortedatum"] = _date(born.text)
        gebruik = GEBRUIK.get(born.get(f"{STUF}indOnvolledigeDatum") or "")
        if gebruik:
            out["geboortedatum_gebruik"] = gebruik
    adres = node.find(f"{BG}verblijfsadres")
    if adres is not None:
        fields = {"plaatsnaam": adres.findtext(f"{BG}wpl.woonplaatsNaam"), "straatnaam": adres.findtext(
            f"{BG}gor.straatnaam"), "postcode": adres.findtext(f"{BG}aoa.postcode"), "huisnummer": adres.findtext(
            f"{BG}aoa.huisnummer"), "huisletter": adres.findtext(f"{BG}aoa.huisletter"),
            "huisnummertoevoeging": adres.findtext(f"{BG}aoa.huisnummertoevoeging")}
        out["contacten"] = [{"soort": "01", "adres": {k: v for k, v in fields.items() if v}}]
    return out


def _extras(node: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in node.findall(f"{STUF}extraElementen/{STUF}extraElement"):
        if e.text is not None:
            out.setdefault(e.get("naam") or "", []).append(e.text)
    return out


def _contact(person: dict[str, Any], extra: dict[str, list[str]], prefix: str) -> None:
    telefoon, email = extra.get(f"{prefix}.telefoonnummer"), extra.get(f"{prefix}.emailadres")
    if not telefoon and not email:
        return
    contacten = person.setdefault("contacten", [{"soort": "01"}])
    if telefoon:
        landnummer = extra.get(f"{prefix}.telefoon.landnummer")
        contacten[0]["telefoon"] = [{"nummer": telefoon[0], **({"landnummer": landnummer[0]} if landnummer else {})}]
    if email:
        contacten[0]["emailadres"] = email[0]


_CLIENT_EXTRAS = (("client.nummer", "clientnummer"), ("client.geheim", "geheim"),
                  ("client.leefeenheid", "leefeenheid"), ("client.communicatievorm", "communicatievorm"),
                  ("client.communicatietaal", "communicatietaal"), ("client.juridische_status", "juridische_status"),
                  ("client.wettelijke_vertegenwoordiging", "wettelijke_vertegenwoordiging"),
                  ("client.gezagsdrager_bekend", "gezagsdrager_bekend"))


def _one(x: dict[str, list[str]], name: str) -> str | None:
    """The first value of a registered extraElement, or None: most of them occur at most once."""
    return x[name][0] if name in x else None


def read_zkn_v2(root: etree._Element, source: str = "<input>",
                zaaktypen: dict[str, tuple[str, str]] | None = None) -> Bericht:
    """The canonical 301/315 one v2 creeerZaak stands for. ``zaaktypen``: zaaktype code -> (wet, kind)."""
    zaak = root.find(f"{ZKN}object")
    if zaak is None or zaak.get(f"{STUF}verwerkingssoort") != "T":
        raise InputError("only a creeerZaak (one ZKN:object with verwerkingssoort T) reads back into a message; "
                         "updates and statuses change a zaak the receiver holds", source=source, field="object")
    code = zaak.findtext(f"{ZKN}isVan/{ZKN}gerelateerde/{ZKN}code") or ""
    wet, kind = (zaaktypen or {}).get(code, ("wmo", "toewijzing"))
    soort = "toewijzing" if kind == "toewijzing" else "verzoek"
    ident = zaak.findtext(f"{ZKN}identificatie") or ""
    gemeente = ident[:4]
    agb = (zaak.findtext(f"{ZKN}heeftAlsUitvoerende/{ZKN}gerelateerde/{ZKN}nietNatuurlijkPersoon/"
                         f"{BG}ann.identificatie") or "")[-8:]
    x = _extras(zaak)
    kenmerk = {k.findtext(f"{ZKN}bron"): k.findtext(f"{ZKN}kenmerk") for k in zaak.findall(f"{ZKN}kenmerk")}
    client = _client(zaak, x)
    product = _product(zaak, x, kenmerk)
    if soort == "toewijzing":
        product["aanbieder"] = agb or None
        if kenmerk.get("BeschikkingNummer"):
            client["beschikking"] = _beschikking(kenmerk["BeschikkingNummer"], product, x)
    else:
        product["beschikkingnummer"] = kenmerk.get("BeschikkingNummer")
        product["beschikking_ingangsdatum"] = _date(_one(x, "beschikking.ingangsdatum"))
    client["producten"] = [{k: v for k, v in product.items() if v is not None}]
    afzender, ontvanger = (gemeente, agb) if soort == "toewijzing" else (agb, gemeente)
    # the version is no zaak fact: a 2.0-only datum (RedenIntrekking, Geheim, Clientnummer) says 2.0, else 2.1
    versie = "2.0" if any(n in x for n in ("toewijzing.reden_intrekking", "client.geheim", "client.nummer")) else "2.1"
    bericht = {"wet": wet, "soort": soort, "berichtcode": BERICHTCODE[(wet, soort)], "versie": versie,
               "afzender": afzender, "ontvanger": ontvanger, "identificatie": _short(ident),
               "dagtekening": _date(zaak.findtext(f"{ZKN}registratiedatum")), "clients": [client]}
    return validated(bericht, source)


def _client(zaak: etree._Element, x: dict[str, list[str]]) -> dict[str, Any]:
    """The client: the initiator, its registered extras, and every related person with their own extras."""
    initiator = zaak.find(f"{ZKN}heeftAlsInitiator/{ZKN}gerelateerde/{ZKN}natuurlijkPersoon")
    client: dict[str, Any] = {"bsn": initiator.findtext(f"{BG}inp.bsn") if initiator is not None else None,
                              **_person(initiator)}
    _contact(client, x, "client")
    for name, field in _CLIENT_EXTRAS:
        if _one(x, name) is not None:
            client[field] = _one(x, name)
    if _one(x, "client.naamgebruik") and "naam" in client:
        client["naam"]["naamgebruik"] = _one(x, "client.naamgebruik")
    relaties = []
    for tag in ("heeftAlsBelanghebbende", "heeftAlsGemachtigde", "heeftAlsOverigBetrokkene"):
        for rel in zaak.findall(f"{ZKN}{tag}"):
            person = _person(rel.find(f"{ZKN}gerelateerde/{ZKN}natuurlijkPersoon"))
            own = _extras(rel)
            _contact(person, own, "relatie")
            if own.get("relatie.naamgebruik") and "naam" in person:
                person["naam"]["naamgebruik"] = own["relatie.naamgebruik"][0]
            relaties.append({"nummer": str(len(relaties) + 1), "soort": rel.findtext(f"{ZKN}code"), **person})
    client["relaties"] = relaties
    return client


def _product(zaak: etree._Element, x: dict[str, list[str]], kenmerk: dict[str | None, str | None]) -> dict[str, Any]:
    """The one product the zaak is about, from its dates, kenmerken and registered extras (None where absent)."""
    one = functools.partial(_one, x)
    product: dict[str, Any] = {
        "categorie": one("product.categorie"), "code": one("product.code"),
        "toewijzingnummer": kenmerk.get("ToewijzingNummer"), "referentie_aanbieder": kenmerk.get("ReferentieAanbieder"),
        "ingangsdatum": _date(zaak.findtext(f"{ZKN}startdatum")),
        "einddatum": _date(zaak.findtext(f"{ZKN}einddatumGepland") or zaak.findtext(f"{ZKN}einddatum")),
        "budget": one("product.budget"), "leveringsvorm": one("product.leveringsvorm"),
        "raamcontract": one("product.raamcontract"), "reden_wijziging": one("toewijzing.reden_wijziging"),
        "reden_intrekking": one("toewijzing.reden_intrekking"),
    }
    if one("product.omvang.volume") is not None:
        product["omvang"] = {"volume": one("product.omvang.volume"), "eenheid": one("product.omvang.eenheid"),
                             "frequentie": one("product.omvang.frequentie")}
    tijdstip = one("toewijzing.tijdstip")
    if tijdstip:
        product["toewijzingsdatum"] = _date(tijdstip)
        if len(tijdstip) >= 14:
            product["toewijzingstijd"] = dt.time(int(tijdstip[8:10]), int(tijdstip[10:12]), int(tijdstip[12:14]))
    if one("verwijzer.type"):
        product["verwijzer"] = {"type": one("verwijzer.type"), "naam": one("verwijzer.naam"),
                                "zorgverlenercode": one("verwijzer.zorgverlenercode")}
    return product


def _beschikking(nummer: str, product: dict[str, Any], x: dict[str, list[str]]) -> dict[str, Any]:
    """A toewijzing's beschikking: its dates, grondslagen and the beschikt product (when it has a start)."""
    one = functools.partial(_one, x)
    beschikt: dict[str, Any] = {"categorie": product["categorie"], "code": product["code"],
                                "ingangsdatum": _date(one("beschikt.ingangsdatum")),
                                "einddatum": _date(one("beschikt.einddatum"))}
    if one("beschikt.omvang.volume") is not None:
        beschikt["omvang"] = {"volume": one("beschikt.omvang.volume"), "eenheid": one("beschikt.omvang.eenheid"),
                              "frequentie": one("beschikt.omvang.frequentie")}
    return {"nummer": nummer, "afgiftedatum": _date(one("beschikking.afgiftedatum")),
            "ingangsdatum": _date(one("beschikking.ingangsdatum")),
            "einddatum": _date(one("beschikking.einddatum")), "grondslagen": x.get("beschikking.grondslag", []),
            "producten": [beschikt] if beschikt["ingangsdatum"] else []}
