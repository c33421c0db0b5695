"""Read a profile zkn v2 ``creeerZaak`` zakLk01 back into a canonical 301, 315 or 317 (the way back, lossy by design).

A v2 zaak is one toewijzing (or aanvraag) line; it carries no message header. The header is rebuilt from the
zaak: gemeente = the identificatie's prefix, aanbieder = the uitvoerende's AGB, identificatie = the zaak
identificatie, dagtekening = registratiedatum, wet and kind from the zaaktype (catalogue). docs/canonical-spec.md
9 lists what v2 no longer carries and so cannot come back (header facts, naamcode, relation numbers, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from lxml import etree

from gateway.model import Bericht

from .errors import InputError, found
from .zkn import stuf_date, stuf_time, validated

ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
BG = "{http://www.egem.nl/StUF/sector/bg/0310}"
GESLACHT = {"O": "0", "M": "1", "V": "2"}
GEBRUIK = {"D": "1", "M": "2", "J": "3"}
BERICHTCODE = {("wmo", "toewijzing"): "414", ("wmo", "verzoek"): "444", ("jw", "toewijzing"): "436",
               ("jw", "verzoek"): "446", ("wmo", "verzoek-wijziging"): "480", ("jw", "verzoek-wijziging"): "486"}


def is_v2(root: etree._Element) -> bool:
    """A v2 zakLk01 names its extraElementen flat (no ``bericht.``/``client.N`` canonical paths) and has kenmerk
    or an uitvoerende; a v1 one carries ``bericht.*`` extraElementen."""
    names = [e.get("naam") or "" for e in root.iter(f"{STUF}extraElement")]
    return not any(n.startswith("bericht.") for n in names)


def _short(ident: str) -> str:
    """A BerichtIdentificatie (2.x: max 12 characters) made from the zaak identificatie, the same every time."""
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def _fail(message: str, node: etree._Element | None, field: str) -> InputError:
    """An InputError at ``node``'s line; :func:`read_zkn_v2` adds the source."""
    return InputError(message, line=node.sourceline if node is not None else None, field=field)


def _where(node: etree._Element) -> str:
    """``node``'s place below ZKN:object, by local names (``heeftAlsInitiator/.../geboortedatum``)."""
    steps = [etree.QName(node).localname]
    for up in node.iterancestors():
        if up.tag == f"{ZKN}object":
            break
        steps.append(etree.QName(up).localname)
    return "/".join(reversed(steps))


def _only(parent: etree._Element | None, path: str) -> etree._Element | None:
    """The element at ``path`` below ``parent``, or None; a second one is refused: the reader takes one value
    there, and which of two BSNs or dates is meant cannot be guessed (the other would vanish without a word)."""
    if parent is None:
        return None
    found = parent.findall(path)
    if len(found) > 1:
        raise _fail(f"{_where(found[1])} occurs {len(found)} times; a zaak has one", found[1], _where(found[1]))
    return found[0] if found else None


def _text(parent: etree._Element | None, path: str) -> str | None:
    """The text at ``path`` (see :func:`_only`); None when the element is absent, empty or xsi:nil."""
    node = _only(parent, path)
    return node.text if node is not None and node.text else None


def _date_at(parent: etree._Element, path: str) -> dt.date | None:
    """The StUF date at ``path``, None when absent or empty; refused, naming the element, when it is no date."""
    node = _only(parent, path)
    if node is None or not node.text:
        return None
    return stuf_date(node.text, _where(node), node.sourceline)


def _coded(node: etree._Element | None, table: dict[str, str]) -> str | None:
    """``node``'s StUF code through ``table`` (O/M/V -> 0/1/2); another code is refused, never read as 'onbekend'."""
    if node is None or not node.text:
        return None
    if node.text not in table:
        raise _fail(f"{_where(node)} must be one of {', '.join(table)}, found {found(node.text)}", node, _where(node))
    return table[node.text]


def _person(node: etree._Element | None) -> dict[str, Any]:
    if node is None:
        return {}
    out: dict[str, Any] = {}
    naam = _text(node, f"{BG}geslachtsnaam")
    if naam:
        out["naam"] = {"geslachtsnaam": {"naam": naam, "voorvoegsel": _text(node, f"{BG}voorvoegselGeslachtsnaam")},
                       "voorletters": _text(node, f"{BG}voorletters"), "voornamen": _text(node, f"{BG}voornamen")}
    geslacht = _coded(_only(node, f"{BG}geslachtsaanduiding"), GESLACHT)
    if geslacht is not None:
        out["geslacht"] = geslacht
    born = _only(node, f"{BG}geboortedatum")
    if born is not None and born.text:
        out["geboortedatum"] = stuf_date(born.text, _where(born), born.sourceline)
        indicator = born.get(f"{STUF}indOnvolledigeDatum")
        if indicator is not None and indicator not in (*GEBRUIK, "V"):
            raise _fail(f"{_where(born)}/@indOnvolledigeDatum must be one of D, M, J, V, found {found(indicator)}",
                        born, _where(born) + "/@indOnvolledigeDatum")
        if indicator in GEBRUIK:
            out["geboortedatum_gebruik"] = GEBRUIK[indicator]
    adres = _only(node, f"{BG}verblijfsadres")
    if adres is not None:
        fields = {"plaatsnaam": f"{BG}wpl.woonplaatsNaam", "straatnaam": f"{BG}gor.straatnaam",
                  "postcode": f"{BG}aoa.postcode", "huisnummer": f"{BG}aoa.huisnummer",
                  "huisletter": f"{BG}aoa.huisletter", "huisnummertoevoeging": f"{BG}aoa.huisnummertoevoeging"}
        values = {k: _text(adres, path) for k, path in fields.items()}
        out["contacten"] = [{"soort": "01", "adres": {k: v for k, v in values.items() if v}}]
    return out


ZAAK_EXTRAS = frozenset({
    "product.categorie", "product.code", "product.omvang.volume", "product.omvang.eenheid",
    "product.omvang.frequentie", "product.budget", "product.leveringsvorm", "product.raamcontract",
    "toewijzing.tijdstip", "toewijzing.reden_wijziging", "toewijzing.reden_intrekking", "verwijzer.type",
    "verwijzer.naam", "verwijzer.zorgverlenercode", "aanvraag.verzoek_groep", "beschikking.afgiftedatum",
    "beschikking.ingangsdatum", "beschikking.einddatum", "beschikking.grondslag", "beschikking.beperkingscategorie",
    "beschikt.ingangsdatum", "beschikt.einddatum", "beschikt.omvang.volume", "beschikt.omvang.eenheid",
    "beschikt.omvang.frequentie", "client.nummer", "client.geheim", "client.leefeenheid", "client.naamgebruik",
    "client.partnernaam", "client.partnernaam.voorvoegsel", "client.communicatievorm", "client.communicatietaal",
    "client.juridische_status", "client.wettelijke_vertegenwoordiging", "client.gezagsdrager_bekend",
    "client.telefoonnummer", "client.telefoon.landnummer", "client.emailadres", "client.reden_verzoek"})
"""The registered extraElement names (gateway/zaken/extraelementen.yaml) a zaak carries, besides ``vendor.*``."""
RELATION_EXTRAS = frozenset({"emailadres", "relatie.telefoonnummer", "relatie.telefoon.landnummer",
                             "relatie.naamgebruik", "relatie.emailadres"})
"""The names a betrokkene relation carries: ``emailadres`` (ZDS 1.2 4.1.4.2), and the ``relatie.*`` names retired
on 6 December 2026, read from zaken written before (``client.emailadres`` above likewise)."""
INITIATOR_EXTRAS = frozenset({"emailadres"})
"""The one name heeftAlsInitiator carries (ZDS 1.2 4.1.4.2: "object . <ROL> . extraElement … naam = emailadres")."""
REPEATED = frozenset({"beschikking.grondslag", "beschikking.beperkingscategorie"})
"""The names registered ``repeat: true``; every other name occurs at most once."""


class _Extras:
    """The extraElementen of one zaak or relation by name: only registered names, each once unless it repeats
    (an unknown name or a second value would otherwise be passed over without a word)."""

    def __init__(self, node: etree._Element | None, known: frozenset[str]) -> None:
        self.by_name: dict[str, list[etree._Element]] = {}
        found_ = node.findall(f"{STUF}extraElementen/{STUF}extraElement") if node is not None else []
        for e in found_:
            name = e.get("naam") or ""
            if name not in known and not (known is ZAAK_EXTRAS and name.startswith("vendor.") and len(name) > 7):
                raise _fail(f"extraElement {found(name) if name else 'without naam'} is no registered name of "
                            f"profile zkn v2 {'on a zaak' if known is ZAAK_EXTRAS else 'on a relation'} "
                            "(gateway/zaken/extraelementen.yaml)", e, f"extraElement {name}".strip())
            same = self.by_name.setdefault(name, [])
            if same and name not in REPEATED:
                raise _fail(f"extraElement {name!r} occurs twice; it is registered for one value", e, name)
            same.append(e)

    def all(self, name: str) -> list[str]:
        return [e.text for e in self.by_name.get(name, []) if e.text]

    def one(self, name: str) -> str | None:
        """The value of a registered extraElement, or None (absent, empty, xsi:nil)."""
        found_ = self.by_name.get(name)
        return found_[0].text or None if found_ else None

    def date(self, name: str) -> dt.date | None:
        found_ = self.by_name.get(name)
        if not found_ or not found_[0].text:
            return None
        return stuf_date(found_[0].text, f"extraElement {name}", found_[0].sourceline)

    def vendor(self) -> dict[str, str]:
        return {n[7:]: v for n, els in self.by_name.items() if n.startswith("vendor.") for v in [els[0].text] if v}


def _contact(person: dict[str, Any], x: _Extras, prefix: str, rol: _Extras) -> None:
    """The person's telephone number (``prefix``.telefoonnummer in ``x``) and e-mail address: the ROL's ``emailadres``,
    else the retired ``prefix``.emailadres of a zaak written before it."""
    telefoon, email, retired = x.one(f"{prefix}.telefoonnummer"), rol.one("emailadres"), x.one(f"{prefix}.emailadres")
    if email and retired and email != retired:  # which of two addresses is the person's cannot be told
        node = x.by_name[f"{prefix}.emailadres"][0]
        raise _fail(f"extraElement {prefix}.emailadres (retired) differs from the ROL's emailadres; a person has one "
                    "e-mail address in a zaak", node, f"extraElement {prefix}.emailadres")
    email = email or retired
    if not telefoon and not email:
        return
    contacten = person.setdefault("contacten", [{"soort": "01"}])
    if telefoon:
        landnummer = x.one(f"{prefix}.telefoon.landnummer")
        contacten[0]["telefoon"] = [{"nummer": telefoon, **({"landnummer": landnummer} if landnummer else {})}]
    if email:
        contacten[0]["emailadres"] = email


_CLIENT_EXTRAS = (("client.nummer", "clientnummer"), ("client.geheim", "geheim"),
                  ("client.leefeenheid", "leefeenheid"), ("client.communicatievorm", "communicatievorm"),
                  ("client.communicatietaal", "communicatietaal"), ("client.juridische_status", "juridische_status"),
                  ("client.wettelijke_vertegenwoordiging", "wettelijke_vertegenwoordiging"),
                  ("client.gezagsdrager_bekend", "gezagsdrager_bekend"), ("client.reden_verzoek", "reden_verzoek"))


ASSUMED_SOORT = ("read as 01 (BRP address): a zaak's verblijfsadres is the BRP address, else a place of stay (03, 04), "
                 "and does not say which; nor does it say the soort of the contact an e-mail address or telephone "
                 "number came from")


def assumed_soorten(bericht: Bericht) -> list[str]:
    """``path: why`` for every contact soort the reader chose (always 01, see :func:`_person`), for the Reversal's
    ``normalised``: a place of stay or a correspondence contact that comes back as the BRP address is a changed
    value, and the way back names what it changes (docs/canonical-spec.md 9)."""
    out: list[str] = []
    for ci, client in enumerate(bericht.clients):
        people = [(f"clients.{ci}.", client.contacten)] + [
            (f"clients.{ci}.relaties.{ri}.", relatie.contacten) for ri, relatie in enumerate(client.relaties)]
        out += [f"{path}contacten.{k}.soort: {ASSUMED_SOORT}" for path, contacten in people
                for k in range(len(contacten))]
    return out


def _kenmerken(zaak: etree._Element) -> dict[str, str]:
    """The zaak's kenmerken by bron; a bron twice is refused (which ToewijzingNummer is meant cannot be told)."""
    out: dict[str, str] = {}
    for k in zaak.findall(f"{ZKN}kenmerk"):
        bron, kenmerk = _text(k, f"{ZKN}bron"), _text(k, f"{ZKN}kenmerk")
        if bron is None or kenmerk is None:
            continue
        if bron in out:
            raise _fail(f"two kenmerken with bron {found(bron)}; a zaak has one", k, "kenmerk")
        out[bron] = kenmerk
    return out


def _agb(zaak: etree._Element) -> str:
    """The uitvoerende's AGB: ann.identificatie is the AGB zero-padded to 17 digits; anything else is refused,
    not cut to its last 8 digits (a longer number names another party)."""
    node = _only(_only(_only(_only(zaak, f"{ZKN}heeftAlsUitvoerende"), f"{ZKN}gerelateerde"),
                       f"{ZKN}nietNatuurlijkPersoon"), f"{BG}ann.identificatie")
    text = node.text if node is not None else None
    if not text:
        return ""
    if not (text.isascii() and text.isdigit() and len(text) <= 17 and text[:-8].strip("0") == ""):
        raise _fail(f"{_where(node)} must be an AGB code of 8 digits, zero-padded to at most 17, found {found(text)}",
                    node, _where(node))
    return text[-8:]


def read_zkn_v2(root: etree._Element, source: str = "<input>",
                zaaktypen: dict[str, tuple[str, str]] | None = None) -> Bericht:
    """The canonical 301/315 one v2 creeerZaak stands for. ``zaaktypen``: zaaktype code -> (wet, kind)."""
    try:
        return validated(_bericht(root, zaaktypen), source)
    except InputError as exc:
        if exc.source != "<input>":
            raise
        raise InputError(exc.message, source=source, line=exc.line, field=exc.field, code=exc.code) from None


def _bericht(root: etree._Element, zaaktypen: dict[str, tuple[str, str]] | None) -> dict[str, Any]:
    objects = root.findall(f"{ZKN}object")
    zaak = objects[0] if len(objects) == 1 else None
    if zaak is None or zaak.get(f"{STUF}verwerkingssoort") != "T":
        raise _fail("only a creeerZaak (one ZKN:object with verwerkingssoort T) reads back into a message; "
                    "updates and statuses change a zaak the receiver holds", objects[1] if objects[1:] else root,
                    "object")
    code = _text(_only(_only(zaak, f"{ZKN}isVan"), f"{ZKN}gerelateerde"), f"{ZKN}code") or ""
    if zaaktypen is not None and code not in zaaktypen:  # never guessed: an aanvraag would come back a toewijzing
        raise _fail(f"isVan/gerelateerde/code {found(code) if code else 'is missing; it'} names no zaaktype of the "
                    f"catalogue ({', '.join(sorted(zaaktypen))}): wet and kind of the message are unknown", zaak,
                    "isVan/gerelateerde/code")
    wet, kind = (zaaktypen or {}).get(code, ("wmo", "toewijzing"))
    soort = "toewijzing" if kind == "toewijzing" else "verzoek"
    ident = _text(zaak, f"{ZKN}identificatie") or ""
    if not (ident[:4].isascii() and ident[:4].isdigit()):
        raise _fail(f"identificatie must start with the gemeentecode (4 digits), found {found(ident)}", zaak,
                    "identificatie")
    gemeente = ident[:4]
    agb = _agb(zaak)
    if not agb:
        raise _fail("heeftAlsUitvoerende/gerelateerde/nietNatuurlijkPersoon/ann.identificatie is missing: the "
                    f"aanbieder of the {'toewijzing' if soort == 'toewijzing' else 'aanvraag'}", zaak,
                    "heeftAlsUitvoerende/gerelateerde/nietNatuurlijkPersoon/ann.identificatie")
    if _text(zaak, f"{ZKN}registratiedatum") is None:
        raise _fail("registratiedatum is missing: it is the message's Dagtekening", zaak, "registratiedatum")
    x = _Extras(zaak, ZAAK_EXTRAS)
    kenmerk = _kenmerken(zaak)
    client = _client(zaak, x)
    product = _product(zaak, x, kenmerk)
    product["aanbieder"] = agb or None  # the uitvoerende: who was granted the toewijzing, or who asks for it
    if soort == "toewijzing":
        if kenmerk.get("BeschikkingNummer"):
            client["beschikking"] = _beschikking(kenmerk["BeschikkingNummer"], product, x)
    else:
        product["beschikkingnummer"] = kenmerk.get("BeschikkingNummer")
        product["beschikking_ingangsdatum"] = x.date("beschikking.ingangsdatum")
    versie = "2.1"
    if soort == "verzoek" and product.get("verzoek_groep"):  # a 317 line, no 315: the kind exists in 3.x only,
        soort, versie = "verzoek-wijziging", "3.2"  # and its ReferentieAanbieder is the client's, not the line's
        client["referentie_aanbieder"] = product.pop("referentie_aanbieder", None)
    client["producten"] = [{k: v for k, v in product.items() if v is not None}]
    afzender, ontvanger = (gemeente, agb) if soort == "toewijzing" else (agb, gemeente)
    # the version is no zaak fact: a 2.0-only datum (RedenIntrekking, Geheim, Clientnummer) says 2.0, else 2.1
    if versie == "2.1" and any(n in x.by_name for n in ("toewijzing.reden_intrekking", "client.geheim",
                                                         "client.nummer")):
        versie = "2.0"
    return {"wet": wet, "soort": soort, "berichtcode": BERICHTCODE[(wet, soort)], "versie": versie,
            "afzender": afzender, "ontvanger": ontvanger, "identificatie": _short(ident),
            "dagtekening": _date_at(zaak, f"{ZKN}registratiedatum"), "clients": [client]}


def _client(zaak: etree._Element, x: _Extras) -> dict[str, Any]:
    """The client: the initiator, its registered extras, and every related person with their own extras."""
    initiator = _only(_only(_only(zaak, f"{ZKN}heeftAlsInitiator"), f"{ZKN}gerelateerde"), f"{ZKN}natuurlijkPersoon")
    client: dict[str, Any] = {"bsn": _text(initiator, f"{BG}inp.bsn"), **_person(initiator)}
    _contact(client, x, "client", _Extras(_only(zaak, f"{ZKN}heeftAlsInitiator"), INITIATOR_EXTRAS))
    for name, field in _CLIENT_EXTRAS:
        if x.one(name) is not None:
            client[field] = x.one(name)
    if "naam" in client:
        if x.one("client.naamgebruik"):
            client["naam"]["naamgebruik"] = x.one("client.naamgebruik")
        if x.one("client.partnernaam"):
            client["naam"]["partnernaam"] = {"naam": x.one("client.partnernaam"),
                                             "voorvoegsel": x.one("client.partnernaam.voorvoegsel")}
    relaties = []
    for tag in ("heeftAlsBelanghebbende", "heeftAlsGemachtigde", "heeftAlsOverigBetrokkene"):
        for rel in zaak.findall(f"{ZKN}{tag}"):
            person = _person(_only(_only(rel, f"{ZKN}gerelateerde"), f"{ZKN}natuurlijkPersoon"))
            own = _Extras(rel, RELATION_EXTRAS)
            _contact(person, own, "relatie", own)
            if own.one("relatie.naamgebruik") and "naam" in person:
                person["naam"]["naamgebruik"] = own.one("relatie.naamgebruik")
            relaties.append({"nummer": str(len(relaties) + 1), "soort": _text(rel, f"{ZKN}code"), **person})
    client["relaties"] = relaties
    return client


def _product(zaak: etree._Element, x: _Extras, kenmerk: dict[str, str]) -> dict[str, Any]:
    """The one product the zaak is about, from its dates, kenmerken and registered extras (None where absent)."""
    one = x.one
    ends = [e for e in (_only(zaak, f"{ZKN}einddatumGepland"), _only(zaak, f"{ZKN}einddatum")) if e is not None]
    if len({_date_at(zaak, e.tag) for e in ends if e.text}) > 1:  # the line has one Einddatum: which cannot be told
        raise _fail("einddatum differs from einddatumGepland; the product line has one end date", ends[1], "einddatum")
    product: dict[str, Any] = {
        "categorie": one("product.categorie"), "code": one("product.code"),
        "toewijzingnummer": kenmerk.get("ToewijzingNummer"), "referentie_aanbieder": kenmerk.get("ReferentieAanbieder"),
        "ingangsdatum": _date_at(zaak, f"{ZKN}startdatum"),
        "einddatum": next((_date_at(zaak, e.tag) for e in ends if e.text), None),
        "budget": one("product.budget"), "leveringsvorm": one("product.leveringsvorm"),
        "raamcontract": one("product.raamcontract"), "reden_wijziging": one("toewijzing.reden_wijziging"),
        "reden_intrekking": one("toewijzing.reden_intrekking"), "verzoek_groep": one("aanvraag.verzoek_groep"),
        "extra": x.vendor() or None,
    }
    if one("product.omvang.volume") is not None:
        product["omvang"] = {"volume": one("product.omvang.volume"), "eenheid": one("product.omvang.eenheid"),
                             "frequentie": one("product.omvang.frequentie")}
    tijdstip = one("toewijzing.tijdstip")
    if tijdstip:
        where = "extraElement toewijzing.tijdstip"
        line = x.by_name["toewijzing.tijdstip"][0].sourceline
        if len(tijdstip) not in (8, 14):
            raise InputError(f"{where} must be yyyymmdd or yyyymmddhhmmss, found {found(tijdstip)}", field=where,
                             line=line)
        product["toewijzingsdatum"] = stuf_date(tijdstip[:8], where, line)
        if len(tijdstip) == 14:
            product["toewijzingstijd"] = stuf_time(tijdstip[8:], where, line)
    if one("verwijzer.type"):
        product["verwijzer"] = {"type": one("verwijzer.type"), "naam": one("verwijzer.naam"),
                                "zorgverlenercode": one("verwijzer.zorgverlenercode")}
    return product


def _beschikking(nummer: str, product: dict[str, Any], x: _Extras) -> dict[str, Any]:
    """A toewijzing's beschikking: its dates, grondslagen and the beschikt product (when it has a start)."""
    one = x.one
    beschikt: dict[str, Any] = {"categorie": product["categorie"], "code": product["code"],
                                "ingangsdatum": x.date("beschikt.ingangsdatum"),
                                "einddatum": x.date("beschikt.einddatum")}
    if one("beschikt.omvang.volume") is not None:
        beschikt["omvang"] = {"volume": one("beschikt.omvang.volume"), "eenheid": one("beschikt.omvang.eenheid"),
                              "frequentie": one("beschikt.omvang.frequentie")}
    return {"nummer": nummer, "afgiftedatum": x.date("beschikking.afgiftedatum"),
            "ingangsdatum": x.date("beschikking.ingangsdatum"),
            "einddatum": x.date("beschikking.einddatum"), "grondslagen": x.all("beschikking.grondslag"),
            "producten": [beschikt] if beschikt["ingangsdatum"] else []}
