"""Canonical model -> an iWmo XML message of a chosen target version (iWmo 2.1: WMO301 and WMO315).

The payload of the GGk profile is the canonical message written out again as plain iWmo, so a
receiver gets one known version whatever dialect came in; the way back (canonical -> vendor
dialect) needs the same writer. It is a function of the canonical model only, built as text like
``zkn.py`` (no lxml tree), in the element order of the official 2.1 XSDs.

Nothing is lost silently: every filled canonical field either lands in an element, is rewritten
to the closest 2.1 equivalent (``normalised``, e.g. 2.0 RedenIntrekking -> 2.1 RedenWijziging), or
is listed in ``dropped`` as not representable in the target version. Required 2.1 elements that
the message cannot fill raise :class:`RenderError`. docs/ggk-profile.md is the table of it all.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from gateway.model import Bericht, Client, Contact, Naam, Omvang, Product, Relatie

from .zkn import RenderError, esc, flatten

BASE_PREFIX = "iwmo"


@dataclass(frozen=True, slots=True)
class Target:
    """One iWmo version Overstap can write: header values, namespaces and what it cannot hold."""

    versie: str
    berichtversie: str
    berichtsubversie: str
    functie_versie: str  # GGk parameters.functieVersie of this payload version
    functie_subversie: str
    namespace_base: str  # http://www.istandaarden.nl/iwmo/2_1/
    suffix: str  # schema/2_1
    schema_prefix: str  # gateway.render.schemas kind prefix: iwmo21-
    eenheden: frozenset[str]
    reden_wijziging: frozenset[str]
    beperking_categorieen: frozenset[str]

    def namespace(self, part: str) -> str:
        return f"{self.namespace_base}{part}/{self.suffix}"


IWMO21 = Target(
    versie="2.1", berichtversie="2", berichtsubversie="1", functie_versie="0002", functie_subversie="0001",
    namespace_base="http://www.istandaarden.nl/iwmo/2_1/", suffix="schema/2_1", schema_prefix="iwmo21-",
    eenheden=frozenset({"01", "04", "14", "16", "82", "83"}),
    reden_wijziging=frozenset({"01", "02", "03", "04", "05", "06", "07", "08", "09"}),
    beperking_categorieen=frozenset({"1", "2", "3", "4", "5", "6"}),
)
TARGETS: dict[str, Target] = {"2.1": IWMO21}
DEFAULT_VERSIE = "2.1"

MESSAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("wmo", "toewijzing"): ("301", "414"),
    ("wmo", "verzoek"): ("315", "444"),
}
"""(wet, soort) -> (message number, BerichtCode) the iWmo writer supports."""

REDEN_INTREKKING_TO_WIJZIGING: dict[str, str] = {
    "1": "02",  # client overleden -> overlijden
    "2": "05",  # negatief indicatiebesluit -> herbeoordeling: verkorting
    "3": "05",  # herindicatie -> herbeoordeling: verkorting (the new toewijzing follows)
    "4": "09",  # overplaatsing -> overstap naar andere aanbieder
    "6": "06",  # uitstroom -> uitstroom naar ander domein
}
"""2.0 RedenIntrekking (COD172) -> closest 2.1 RedenWijziging (WMO002); the same choice as the 2.1 fixtures."""

REDEN_WIJZIGING_NEWER: dict[str, str] = {
    "13": "01",  # 3.x "verwijderd" (Einddatum = Ingangsdatum) -> administratieve correctie
    "14": "01",  # 3.x administratieve correctie (nieuwe stijl) -> administratieve correctie
}
"""3.x RedenWijziging codes that have a 2.1 equivalent; 10, 11 and 12 have none."""

LDT_NUMMER_MAX = 999_999_999
VOORLETTERS = re.compile(r"[^\s][a-zA-Z]*")
IDENTIFICATIE_MAX = 12
LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")


@dataclass(frozen=True, slots=True)
class IwmoMessage:
    """One rendered iWmo message and the account of what did not travel unchanged."""

    xml: bytes
    functie: str  # WMO301, the GGk stuurgegevens.functie
    schema: str  # gateway.render.schemas kind, e.g. iwmo21-301
    target: Target
    dropped: tuple[str, ...] = ()
    normalised: tuple[str, ...] = ()


def target(versie: str | None) -> Target:
    """The target for a ``ggk_versie`` setting: ``2.1`` (also ``iwmo-2.1``); None is the default."""
    key = (versie or DEFAULT_VERSIE).strip().lower().removeprefix("iwmo").lstrip("-_ ")
    found = TARGETS.get(key)
    if found is None:
        raise RenderError(f"iWmo target version {versie!r} is not available: choose one of {', '.join(TARGETS)}",
                          "ggk_versie")
    return found


def _date(value: dt.date) -> str:
    return value.isoformat()


def _time(value: dt.time) -> str:
    return value.strftime("%H:%M:%S")


@dataclass(slots=True)
class _Writer:
    """Text output plus the bookkeeping of which canonical paths were written, rewritten or dropped."""

    target: Target
    m: str  # message prefix, e.g. wmo301
    parts: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    explicit: list[tuple[str, str]] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def el(self, tag: str, text: str, path: str | None = None) -> None:
        self.parts.append(f"<{tag}>{esc(text)}</{tag}>")
        if path:
            self.used.add(path)

    def opt(self, tag: str, value: str | None, path: str, max_len: int | None = None) -> None:
        """An optional element: written when filled, dropped (with the reason) when too long for the target."""
        if value is None or value == "":
            return
        if max_len is not None and len(value) > max_len:
            self.drop(path, f"{len(value)} characters, iWmo {self.target.versie} allows {max_len}")
            return
        self.el(tag, value, path)

    def req(self, tag: str, value: str | None, path: str, what: str, max_len: int | None = None) -> None:
        """A required element: the message cannot be written without it."""
        if value is None or value == "":
            raise RenderError(f"iWmo {self.target.versie} {what} is required, and {path} is empty", path)
        if max_len is not None and len(value) > max_len:
            raise RenderError(f"{path} has {len(value)} characters; iWmo {self.target.versie} {what} allows "
                              f"{max_len}", path)
        self.el(tag, value, path)

    def commentaar(self, tag: str, value: str | None, path: str) -> None:
        """LDT_Commentaar is one line (its pattern's ``.`` excludes line breaks): breaks become spaces."""
        if not value:
            return
        if "\n" in value or "\r" in value:
            self.el(tag, LINE_BREAKS.sub(" ", value))
            self.note(path, "line breaks written as spaces (iWmo Commentaar is a single line)")
            return
        self.el(tag, value, path)

    def drop(self, path: str, reason: str) -> None:
        self.explicit.append((path, reason))

    def note(self, path: str, what: str) -> None:
        self.used.add(path)
        self.normalised.append(f"{path}: {what}")


def render(bericht: Bericht, versie: str | None = None) -> IwmoMessage:
    """``bericht`` as an iWmo message of ``versie`` (default 2.1); :class:`RenderError` if it cannot be."""
    tgt = target(versie)
    found = MESSAGES.get((bericht.wet, bericht.soort))
    if found is None:
        raise RenderError(
            f"no iWmo {tgt.versie} message for a {bericht.wet} {bericht.soort} (berichtcode {bericht.berichtcode}): "
            f"Overstap writes {', '.join(f'{w} {s}' for w, s in MESSAGES)}", "soort")
    nr, code = found
    if not bericht.clients:
        raise RenderError(f"iWmo {tgt.versie} WMO{nr} needs at least one Client; the message has none", "clients")
    m = f"wmo{nr}"
    w = _Writer(tgt, m)
    w.add(f'<?xml version="1.0" encoding="UTF-8"?>\n<{m}:Bericht xmlns:{m}="{tgt.namespace(m)}" '
          f'xmlns:{BASE_PREFIX}="{tgt.namespace("basisschema")}">')
    _header(w, bericht, nr, code)
    w.add(f"<{m}:Clienten>")
    for ci, client in enumerate(bericht.clients, 1):
        if nr == "301":
            _client_301(w, bericht, client, f"client.{ci}.")
        else:
            _client_315(w, bericht, client, ci, f"client.{ci}.")
    w.add(f"</{m}:Clienten></{m}:Bericht>\n")
    dropped = _dropped(bericht, w)
    return IwmoMessage("".join(w.parts).encode("utf-8"), f"WMO{nr}", f"{tgt.schema_prefix}{nr}", tgt,
                       dropped, tuple(w.normalised))


def _header(w: _Writer, bericht: Bericht, nr: str, code: str) -> None:
    m, t = w.m, w.target
    w.used.update(("bericht.wet", "bericht.soort"))
    w.add(f"<{m}:Header>")
    w.el(f"{m}:BerichtCode", code, "bericht.berichtcode")
    w.el(f"{m}:BerichtVersie", t.berichtversie)
    w.el(f"{m}:BerichtSubversie", t.berichtsubversie)
    if bericht.versie == t.versie:
        w.used.add("bericht.versie")
    else:
        w.note("bericht.versie", f"{bericht.versie} written as iWmo {t.versie}")
    gemeente_first = nr == "301"  # 301 travels gemeente -> aanbieder, 315 the other way
    for tag, value, path in (("Afzender", bericht.afzender, "bericht.afzender"),
                             ("Ontvanger", bericht.ontvanger, "bericht.ontvanger")):
        is_gemeente = (tag == "Afzender") == gemeente_first
        if is_gemeente and len(value) != 4:
            raise RenderError(f"{path} {value!r} must be a 4-digit gemeentecode in an iWmo WMO{nr}", path)
        if not is_gemeente and len(value) != 8:
            raise RenderError(f"{path} {value!r} must be an 8-digit AGB code in an iWmo WMO{nr}", path)
        w.el(f"{m}:{tag}", value, path)
    w.add(f"<{m}:BerichtIdentificatie>")
    w.req(f"{BASE_PREFIX}:Identificatie", bericht.identificatie, "bericht.identificatie", "BerichtIdentificatie",
          IDENTIFICATIE_MAX)
    w.el(f"{BASE_PREFIX}:Dagtekening", _date(bericht.dagtekening), "bericht.dagtekening")
    w.add(f"</{m}:BerichtIdentificatie></{m}:Header>")


def _person_head(w: _Writer, bsn: str | None, geboortedatum: dt.date | None, gebruik: str | None,
                 geslacht: str | None, path: str) -> None:
    """Bsn, Geboortedatum and Geslacht: the same three elements on a client and on a relatie."""
    m, i = w.m, BASE_PREFIX
    if bsn is not None:
        w.el(f"{m}:Bsn", bsn, path + "bsn")
    if geboortedatum is not None:
        w.add(f"<{m}:Geboortedatum>")
        w.el(f"{i}:Datum", _date(geboortedatum), path + "geboortedatum")
        if gebruik:
            w.el(f"{i}:DatumGebruik", gebruik, path + "geboortedatum_gebruik")
        w.add(f"</{m}:Geboortedatum>")
    if geslacht is not None:
        w.el(f"{m}:Geslacht", geslacht, path + "geslacht")


def _naamgebruik(naam: Naam) -> tuple[str | None, str | None]:
    """The 2.1 NaamGebruik and, when it comes from the 2.0 per-name NaamCode, that field's name."""
    if naam.naamgebruik:
        return naam.naamgebruik, None
    if naam.geslachtsnaam.naamcode:
        return naam.geslachtsnaam.naamcode, "geslachtsnaam.naamcode"
    return None, None


def _voorletters(w: _Writer, naam: Naam, path: str) -> None:
    value = naam.voorletters
    if not value:
        return
    if len(value) <= 6 and VOORLETTERS.fullmatch(value):
        w.el(f"{BASE_PREFIX}:Voorletters", value, path + "voorletters")
        return
    bare = re.sub(r"[\s.]", "", value)
    if bare and len(bare) <= 6 and VOORLETTERS.fullmatch(bare):
        w.el(f"{BASE_PREFIX}:Voorletters", bare, path + "voorletters")
        w.note(path + "voorletters", "written without dots and spaces (iWmo LDT_Voorletters is letters only)")
        return
    w.drop(path + "voorletters", f"iWmo {w.target.versie} Voorletters are at most 6 letters")


def _naam(w: _Writer, naam: Naam, path: str, full: bool) -> None:
    """CDT_VolledigeNaam (``full``) or CDT_VerkorteNaam; ``path`` ends in ``naam.``."""
    i = BASE_PREFIX
    w.add(f"<{w.m}:Naam><{i}:Geslachtsnaam>")
    w.req(f"{i}:Naam", naam.geslachtsnaam.naam, path + "geslachtsnaam.naam", "Geslachtsnaam", 200)
    w.opt(f"{i}:Voorvoegsel", naam.geslachtsnaam.voorvoegsel, path + "geslachtsnaam.voorvoegsel", 10)
    w.add(f"</{i}:Geslachtsnaam>")
    if full and naam.partnernaam is not None:
        w.add(f"<{i}:Partnernaam>")
        w.req(f"{i}:Naam", naam.partnernaam.naam, path + "partnernaam.naam", "Partnernaam", 200)
        w.opt(f"{i}:Voorvoegsel", naam.partnernaam.voorvoegsel, path + "partnernaam.voorvoegsel", 10)
        w.add(f"</{i}:Partnernaam>")
    w.opt(f"{i}:Voornamen", naam.voornamen, path + "voornamen", 200)
    _voorletters(w, naam, path)
    if full:
        gebruik, source = _naamgebruik(naam)
        if gebruik is None:
            raise RenderError(f"iWmo {w.target.versie} needs NaamGebruik, and {path}naamgebruik is empty",
                              path + "naamgebruik")
        w.el(f"{i}:NaamGebruik", gebruik, path + "naamgebruik")
        if source:
            w.note(path + source, f"2.0 NaamCode {gebruik} written as NaamGebruik")
    w.add(f"</{w.m}:Naam>")


def _omvang(w: _Writer, omvang: Omvang | None, path: str) -> None:
    if omvang is None:
        return
    if omvang.eenheid not in w.target.eenheden:
        w.drop(path + "omvang", f"Eenheid {omvang.eenheid} is not in the iWmo {w.target.versie} list")
        return
    i = BASE_PREFIX
    w.add(f"<{w.m}:Omvang>")
    w.el(f"{i}:Volume", str(omvang.volume), path + "omvang.volume")
    w.el(f"{i}:Eenheid", omvang.eenheid, path + "omvang.eenheid")
    w.el(f"{i}:Frequentie", omvang.frequentie, path + "omvang.frequentie")
    w.add(f"</{w.m}:Omvang>")


def _product_code(w: _Writer, categorie: str | None, code: str | None, path: str) -> None:
    i = BASE_PREFIX
    w.add(f"<{w.m}:Product>")
    w.req(f"{i}:Categorie", categorie, path + "categorie", "Product/Categorie")
    w.opt(f"{i}:Code", code, path + "code", 5)
    w.add(f"</{w.m}:Product>")


def _usable_telefoon(w: _Writer, contact: Contact, path: str) -> list[tuple[int, str, str]]:
    kept: list[tuple[int, str, str]] = []
    for ti, tel in enumerate(contact.telefoon, 1):
        where = f"{path}telefoon.{ti}"
        if not tel.landnummer:
            w.drop(where, f"iWmo {w.target.versie} needs a Landnummer with every Telefoonnummer")
        elif len(tel.nummer) > 15 or len(tel.landnummer) > 4:
            w.drop(where, f"longer than iWmo {w.target.versie} allows (Telefoonnummer 15, Landnummer 4)")
        else:
            kept.append((ti, tel.nummer, tel.landnummer))
    return kept


def _contact(w: _Writer, contact: Contact, path: str) -> None:
    m, i = w.m, BASE_PREFIX
    w.add(f"<{m}:Contact>")
    w.el(f"{m}:Soort", contact.soort, path + "soort")
    adres = contact.adres
    if adres is not None:
        w.add(f"<{m}:Adres>")
        if adres.huisnummer is not None:
            w.add(f"<{i}:Huis>")
            w.el(f"{i}:Huisnummer", str(adres.huisnummer), path + "adres.huisnummer")
            w.opt(f"{i}:Huisletter", adres.huisletter, path + "adres.huisletter", 1)
            w.opt(f"{i}:HuisnummerToevoeging", adres.huisnummertoevoeging, path + "adres.huisnummertoevoeging", 4)
            w.opt(f"{i}:AanduidingWoonadres", adres.aanduiding_woonadres, path + "adres.aanduiding_woonadres")
            w.add(f"</{i}:Huis>")
        w.opt(f"{i}:Postcode", adres.postcode, path + "adres.postcode", 8)
        w.opt(f"{i}:Straatnaam", adres.straatnaam, path + "adres.straatnaam", 24)
        w.opt(f"{i}:Plaatsnaam", adres.plaatsnaam, path + "adres.plaatsnaam", 80)
        w.opt(f"{i}:LandCode", adres.landcode, path + "adres.landcode")
        w.add(f"</{m}:Adres>")
    w.opt(f"{m}:Organisatie", contact.organisatie, path + "organisatie", 35)
    telefoon = _usable_telefoon(w, contact, path)
    if telefoon:
        w.add(f"<{m}:Telefoon>")
        for n, (ti, nummer, landnummer) in enumerate(telefoon, 1):
            w.add(f"<{i}:Telefoon0{n}>")
            w.el(f"{i}:Telefoonnummer", nummer, f"{path}telefoon.{ti}.nummer")
            w.el(f"{i}:Landnummer", landnummer, f"{path}telefoon.{ti}.landnummer")
            w.add(f"</{i}:Telefoon0{n}>")
        w.add(f"</{m}:Telefoon>")
    w.opt(f"{m}:Emailadres", contact.emailadres, path + "emailadres", 80)
    if contact.begindatum or contact.einddatum:
        w.add(f"<{m}:Periode>")
        if contact.begindatum:
            w.el(f"{i}:Begindatum", _date(contact.begindatum), path + "begindatum")
        if contact.einddatum:
            w.el(f"{i}:Einddatum", _date(contact.einddatum), path + "einddatum")
        w.add(f"</{m}:Periode>")
    w.add(f"</{m}:Contact>")


def _relatie(w: _Writer, relatie: Relatie, path: str) -> bool:
    """Write one Relatie, or drop it when 2.1 cannot hold it (it needs a Contact and a NaamGebruik)."""
    if not relatie.contacten:
        w.drop(path[:-1], f"an iWmo {w.target.versie} Relatie needs a Contact")
        return False
    if _naamgebruik(relatie.naam)[0] is None:
        w.drop(path[:-1], f"an iWmo {w.target.versie} Relatie needs a NaamGebruik")
        return False
    if len(relatie.nummer) > 20:
        w.drop(path[:-1], f"Relatie Nummer has {len(relatie.nummer)} characters, iWmo {w.target.versie} allows 20")
        return False
    m = w.m
    w.add(f"<{m}:Relatie>")
    w.el(f"{m}:Nummer", relatie.nummer, path + "nummer")
    if relatie.volgorde is not None:
        w.el(f"{m}:Volgorde", str(relatie.volgorde), path + "volgorde")
    w.el(f"{m}:Soort", relatie.soort, path + "soort")
    _person_head(w, None, relatie.geboortedatum, relatie.geboortedatum_gebruik, relatie.geslacht, path)
    _naam(w, relatie.naam, path + "naam.", full=True)
    _contact(w, relatie.contacten[0], path + "contact.1.")
    for ki in range(2, len(relatie.contacten) + 1):
        w.drop(f"{path}contact.{ki}", f"an iWmo {w.target.versie} Relatie has exactly one Contact")
    w.add(f"</{m}:Relatie>")
    return True


def _client_301(w: _Writer, bericht: Bericht, client: Client, path: str) -> None:
    m, i = w.m, BASE_PREFIX
    w.add(f"<{m}:Client>")
    _person_head(w, client.bsn, client.geboortedatum, client.geboortedatum_gebruik, client.geslacht, path)
    _naam(w, client.naam, path + "naam.", full=True)
    if client.communicatievorm:
        w.add(f"<{m}:Communicatie>")
        w.el(f"{i}:Vorm", client.communicatievorm, path + "communicatievorm")
        w.opt(f"{i}:Taal", client.communicatietaal, path + "communicatietaal", 25)
        w.add(f"</{m}:Communicatie>")
    w.opt(f"{m}:JuridischeStatus", client.juridische_status, path + "juridische_status")
    w.opt(f"{m}:WettelijkeVertegenwoordiging", client.wettelijke_vertegenwoordiging,
          path + "wettelijke_vertegenwoordiging")
    w.commentaar(f"{m}:Commentaar", client.commentaar, path + "commentaar")
    if client.relaties:
        start = len(w.parts)
        w.add(f"<{m}:Relaties>")
        written = [_relatie(w, r, f"{path}relatie.{ri}.") for ri, r in enumerate(client.relaties, 1)]
        if any(written):
            w.add(f"</{m}:Relaties>")
        else:
            del w.parts[start:]
    if not client.contacten:
        raise RenderError(f"iWmo {w.target.versie} WMO301 needs Contactgegevens, and {path}contact is empty",
                          path + "contact")
    w.add(f"<{m}:Contactgegevens>")
    for ki, contact in enumerate(client.contacten, 1):
        _contact(w, contact, f"{path}contact.{ki}.")
    w.add(f"</{m}:Contactgegevens>")
    _beschikking(w, bericht, client, path)
    w.add(f"</{m}:Client>")


def _beschikking(w: _Writer, bericht: Bericht, client: Client, path: str) -> None:
    m, i, v = w.m, BASE_PREFIX, w.target.versie
    b = client.beschikking
    if b is None:
        raise RenderError(f"iWmo {v} WMO301 needs a Beschikking (nummer, afgiftedatum, ingangsdatum), and "
                          f"{path}beschikking is empty", path + "beschikking")
    bp = path + "beschikking."
    if int(b.nummer) > LDT_NUMMER_MAX:
        raise RenderError(f"{bp}nummer has more than 9 digits; iWmo {v} BeschikkingNummer allows 9", bp + "nummer")
    if not client.producten:
        raise RenderError(f"iWmo {v} WMO301 needs at least one ToegewezenProduct, and {path}product is empty",
                          path + "product")
    w.add(f"<{m}:Beschikking>")
    w.el(f"{m}:BeschikkingNummer", b.nummer, bp + "nummer")
    if b.grondslagen:
        w.add(f"<{m}:Grondslagen>")
        for gi, grondslag in enumerate(b.grondslagen, 1):
            w.el(f"{i}:Grondslag0{gi}", grondslag, f"{bp}grondslag.{gi}")
        w.add(f"</{m}:Grondslagen>")
    w.req(f"{m}:Afgiftedatum", _date(b.afgiftedatum) if b.afgiftedatum else None, bp + "afgiftedatum",
          "Beschikking/Afgiftedatum")
    w.req(f"{m}:Ingangsdatum", _date(b.ingangsdatum) if b.ingangsdatum else None, bp + "ingangsdatum",
          "Beschikking/Ingangsdatum")
    if b.einddatum:
        w.el(f"{m}:Einddatum", _date(b.einddatum), bp + "einddatum")
    w.commentaar(f"{m}:Commentaar", b.commentaar, bp + "commentaar")
    beperkingen = [(n, x) for n, x in enumerate(b.beperkingen, 1) if x.categorie in w.target.beperking_categorieen]
    for n, x in enumerate(b.beperkingen, 1):
        if x.categorie not in w.target.beperking_categorieen:
            w.drop(f"{bp}beperking.{n}", f"Beperking categorie {x.categorie} is not in the iWmo {v} list")
    if beperkingen:
        w.add(f"<{m}:Beperkingen>")
        for n, x in beperkingen:
            p = f"{bp}beperking.{n}."
            w.add(f"<{m}:Beperking>")
            w.el(f"{m}:Beperking", x.categorie, p + "categorie")
            w.opt(f"{m}:Duur", x.duur, p + "duur")
            w.commentaar(f"{m}:Commentaar", x.commentaar, p + "commentaar")
            if x.scores:
                w.add(f"<{m}:BeperkingScores>")
                for si, s in enumerate(x.scores, 1):
                    w.add(f"<{m}:BeperkingScore>")
                    w.el(f"{m}:Vraag", s.vraag, f"{p}score.{si}.vraag")
                    w.el(f"{m}:Score", s.score, f"{p}score.{si}.score")
                    w.commentaar(f"{m}:Commentaar", s.commentaar, f"{p}score.{si}.commentaar")
                    w.add(f"</{m}:BeperkingScore>")
                w.add(f"</{m}:BeperkingScores>")
            w.add(f"</{m}:Beperking>")
        w.add(f"</{m}:Beperkingen>")
    w.add(f"<{m}:BeschiktProducten>")
    if b.producten:
        for n, bpr in enumerate(b.producten, 1):
            p = f"{bp}product.{n}."
            w.add(f"<{m}:BeschiktProduct>")
            _product_code(w, bpr.categorie, bpr.code, p)
            w.el(f"{m}:Ingangsdatum", _date(bpr.ingangsdatum), p + "ingangsdatum")
            if bpr.einddatum:
                w.el(f"{m}:Einddatum", _date(bpr.einddatum), p + "einddatum")
            _omvang(w, bpr.omvang, p)
            w.commentaar(f"{m}:Commentaar", bpr.commentaar, p + "commentaar")
            w.add(f"</{m}:BeschiktProduct>")
    else:
        # 3.x has no beschikte producten; 2.1 requires them. Each toegewezen product was beschikt.
        for n, pr in enumerate(client.producten, 1):
            p = f"{path}product.{n}."
            w.add(f"<{m}:BeschiktProduct>")
            _product_code(w, pr.categorie, pr.code, p)
            w.req(f"{m}:Ingangsdatum", _date(pr.ingangsdatum) if pr.ingangsdatum else None, p + "ingangsdatum",
                  "BeschiktProduct/Ingangsdatum")
            if pr.einddatum:
                w.el(f"{m}:Einddatum", _date(pr.einddatum))
            _omvang(w, pr.omvang, p)
            w.add(f"</{m}:BeschiktProduct>")
        w.normalised.append(f"{bp}product: none in the message; each toegewezen product written as BeschiktProduct "
                            f"as well (iWmo {v} requires BeschiktProducten)")
    w.add(f"</{m}:BeschiktProducten><{m}:ToegewezenProducten>")
    for n, pr in enumerate(client.producten, 1):
        _toegewezen(w, bericht, client, pr, f"{path}product.{n}.")
    w.add(f"</{m}:ToegewezenProducten></{m}:Beschikking>")


def _reden_wijziging(w: _Writer, product: Product, path: str) -> None:
    allowed = w.target.reden_wijziging
    reden = product.reden_wijziging
    if reden is not None:
        if reden in allowed:
            w.el(f"{w.m}:RedenWijziging", reden, path + "reden_wijziging")
        elif reden in REDEN_WIJZIGING_NEWER:
            new = REDEN_WIJZIGING_NEWER[reden]
            w.el(f"{w.m}:RedenWijziging", new)
            w.note(path + "reden_wijziging", f"{reden} written as {new} (closest iWmo {w.target.versie} code)")
        else:
            w.drop(path + "reden_wijziging", f"RedenWijziging {reden} has no iWmo {w.target.versie} equivalent")
        if product.reden_intrekking is not None:
            w.drop(path + "reden_intrekking", "RedenWijziging is already set")
        return
    if product.reden_intrekking is not None:
        new = REDEN_INTREKKING_TO_WIJZIGING[product.reden_intrekking]
        w.el(f"{w.m}:RedenWijziging", new)
        w.note(path + "reden_intrekking",
               f"2.0 RedenIntrekking {product.reden_intrekking} written as RedenWijziging {new}")


def _aanbieder(w: _Writer, pr: Product, path: str, role: str, fallback: str) -> None:
    """Aanbieder, required on every 2.1 product line: the line's own, else the header's AGB code."""
    if pr.aanbieder:
        w.el(f"{w.m}:Aanbieder", pr.aanbieder, path + "aanbieder")
        return
    w.el(f"{w.m}:Aanbieder", fallback)
    w.normalised.append(f"{path}aanbieder: empty; the message's {role} {fallback} written "
                        f"(required in iWmo {w.target.versie})")


def _toegewezen(w: _Writer, bericht: Bericht, client: Client, pr: Product, path: str) -> None:
    m, v = w.m, w.target.versie
    w.add(f"<{m}:ToegewezenProduct>")
    if pr.toewijzingnummer:
        w.el(f"{m}:ToewijzingNummer", pr.toewijzingnummer, path + "toewijzingnummer")
    w.opt(f"{m}:ReferentieAanbieder", pr.referentie_aanbieder, path + "referentie_aanbieder", 36)
    _product_code(w, pr.categorie, pr.code, path)
    _aanbieder(w, pr, path, "Ontvanger", bericht.ontvanger)
    if pr.toewijzingsdatum:
        w.el(f"{m}:Toewijzingsdatum", _date(pr.toewijzingsdatum), path + "toewijzingsdatum")
    else:
        w.el(f"{m}:Toewijzingsdatum", _date(bericht.dagtekening))
        w.normalised.append(f"{path}toewijzingsdatum: empty; the Dagtekening written (required in iWmo {v})")
    w.req(f"{m}:Toewijzingstijd", _time(pr.toewijzingstijd) if pr.toewijzingstijd else None,
          path + "toewijzingstijd", "ToegewezenProduct/Toewijzingstijd")
    w.req(f"{m}:Ingangsdatum", _date(pr.ingangsdatum) if pr.ingangsdatum else None, path + "ingangsdatum",
          "ToegewezenProduct/Ingangsdatum")
    if pr.einddatum:
        w.el(f"{m}:Einddatum", _date(pr.einddatum), path + "einddatum")
    _reden_wijziging(w, pr, path)
    _omvang(w, pr.omvang, path)
    w.add(f"</{m}:ToegewezenProduct>")
    _implied(w, client, pr, path, bericht.afzender)


def _implied(w: _Writer, client: Client, pr: Product, path: str, gemeente: str) -> None:
    """Product fields the 2.1 message already says elsewhere: ZIN, the Afzender gemeente, the line's beschikking."""
    if pr.leveringsvorm == "ZIN":
        w.used.add(path + "leveringsvorm")  # an iWmo toewijzing is zorg in natura by definition
    if pr.gemeentecode is not None and pr.gemeentecode == gemeente:
        w.note(path + "gemeentecode", "2.0 Gemeentecode equals the Afzender, which carries it in 2.1")
    b = client.beschikking
    if b is not None and pr.beschikkingnummer == b.nummer:
        w.note(path + "beschikkingnummer", "equals the BeschikkingNummer the line sits in")
    if b is not None and pr.beschikking_ingangsdatum is not None and pr.beschikking_ingangsdatum == b.ingangsdatum:
        w.note(path + "beschikking_ingangsdatum", "equals the Ingangsdatum of the Beschikking the line sits in")


def _client_315(w: _Writer, bericht: Bericht, client: Client, ci: int, path: str) -> None:
    m, v = w.m, w.target.versie
    if not client.producten:
        raise RenderError(f"iWmo {v} WMO315 needs at least one Product, and {path}product is empty", path + "product")
    w.add(f"<{m}:Client>")
    _person_head(w, client.bsn, client.geboortedatum, client.geboortedatum_gebruik, client.geslacht, path)
    _naam(w, client.naam, path + "naam.", full=False)
    w.add(f"<{m}:Producten>")
    for n, pr in enumerate(client.producten, 1):
        p = f"{path}product.{n}."
        w.add(f"<{m}:Product>")
        if pr.referentie_aanbieder:
            w.el(f"{m}:ReferentieAanbieder", pr.referentie_aanbieder, p + "referentie_aanbieder")
        else:
            ref = f"{bericht.identificatie}-{ci}-{n}"
            w.el(f"{m}:ReferentieAanbieder", ref)
            w.normalised.append(f"{p}referentie_aanbieder: empty; {ref} written (BerichtIdentificatie-client-product,"
                                f" required in iWmo {v})")
        if pr.beschikkingnummer and int(pr.beschikkingnummer) <= LDT_NUMMER_MAX:
            w.el(f"{m}:BeschikkingNummer", pr.beschikkingnummer, p + "beschikkingnummer")
        elif pr.beschikkingnummer:
            w.drop(p + "beschikkingnummer", f"more than 9 digits; iWmo {v} BeschikkingNummer allows 9")
        _product_code(w, pr.categorie, pr.code, p)
        if pr.beschikking_ingangsdatum:
            w.el(f"{m}:BeschikkingIngangsdatum", _date(pr.beschikking_ingangsdatum), p + "beschikking_ingangsdatum")
        w.req(f"{m}:ToewijzingIngangsdatum", _date(pr.ingangsdatum) if pr.ingangsdatum else None, p + "ingangsdatum",
              "Product/ToewijzingIngangsdatum")
        if pr.einddatum:
            w.el(f"{m}:ToewijzingEinddatum", _date(pr.einddatum), p + "einddatum")
        _aanbieder(w, pr, p, "Afzender", bericht.afzender)
        _omvang(w, pr.omvang, p)
        if pr.verwijzer is None:
            raise RenderError(f"iWmo {v} WMO315 needs a Verwijzer, and {p}verwijzer is empty", p + "verwijzer")
        w.add(f"<{m}:Verwijzer>")
        w.el(f"{BASE_PREFIX}:Type", pr.verwijzer.type, p + "verwijzer.type")
        w.opt(f"{BASE_PREFIX}:Naam", pr.verwijzer.naam, p + "verwijzer.naam", 64)
        w.add(f"</{m}:Verwijzer>")
        w.opt(f"{m}:Raamcontract", pr.raamcontract, p + "raamcontract")
        w.add(f"</{m}:Product>")
        if pr.leveringsvorm == "ZIN":
            w.used.add(p + "leveringsvorm")
    w.add(f"</{m}:Producten></{m}:Client>")


def _dropped(bericht: Bericht, w: _Writer) -> tuple[str, ...]:
    """Every filled canonical field that was neither written nor rewritten, grouped as high up as possible."""
    leaves = [p for p, _ in flatten(bericht, "bericht.", frozenset({"clients"}))]
    for ci, client in enumerate(bericht.clients, 1):
        leaves += [p for p, _ in flatten(client, f"client.{ci}.")]
    explicit = w.explicit
    out = list(dict.fromkeys(f"{path}: {reason}" for path, reason in explicit))
    covered = tuple(path for path, _ in explicit)
    left = [p for p in leaves if p not in w.used and not any(p == c or p.startswith(c + ".") for c in covered)]
    if not left:
        return tuple(out)
    total: dict[str, int] = {}
    lost: dict[str, int] = {}
    left_set = set(left)
    for p in leaves:
        parts = p.split(".")
        for depth in range(2, len(parts)):
            anc = ".".join(parts[:depth])
            total[anc] = total.get(anc, 0) + 1
            if p in left_set:
                lost[anc] = lost.get(anc, 0) + 1
    reported: list[str] = []
    seen: set[str] = set()
    for p in left:
        parts = p.split(".")
        group = p
        for depth in range(2, len(parts)):
            anc = ".".join(parts[:depth])
            if lost.get(anc) == total[anc]:
                group = anc
                break
        if group not in seen:
            seen.add(group)
            reported.append(group)
    out += [f"{g}: not representable in iWmo {w.target.versie}" for g in reported]
    return tuple(out)
