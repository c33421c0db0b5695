"""One message in the terms of another iWmo/iJw version: canonical -> canonical, before it is written.

The dialect mapping files write a canonical message in any built-in version (gateway.mapping.reverse),
but they write only what is there. A 2.0 RedenIntrekking has no element in 2.1, a 3.x Eenheid 84 is no
2.1 code, and a 2.1 line's Aanbieder is gone in 3.2. :func:`for_version` rewrites such values to the
target version's closest form, derives what the target requires from what the message already says,
and removes what the target cannot hold. It reports each change by canonical path, never with the value
(values may be personal data: a RedenWijziging 02 says that a client died). It is pure: the message
passed in is not changed. docs/ggk-profile.md section 3 has the table of every rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import is_
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from .bericht import Beperking, Bericht, BeschiktProduct, Client, Contact, Naam, Product, Relatie
from .checks import is_agb
from .version_table import (
    BEEINDIGING_SAME_MEANING,
    REDEN_INTREKKING_TO_WIJZIGING,
    REDEN_WIJZIGING_TO_3,
    REDEN_WIJZIGING_TO_21,
    REDEN_WIJZIGING_TO_INTREKKING,
    VERSIONS,
    Version,
)


class TooLong(ValueError):
    """A required text longer than the target version allows: there is nothing to drop, and cutting would change a
    name, so the message cannot be written in that version (the 2.1 XSD refuses it alike; 2.0 has none here)."""

    def __init__(self, path: str, limit: int, label: str) -> None:
        super().__init__(f"{path}: longer than the {limit} characters {label} allows; it is required, so the message "
                         f"cannot be written in {label}")
        self.path = path


class Normalised(NamedTuple):
    """The message as the target version can hold it, and what was done to get there."""

    bericht: Bericht
    normalised: list[str]
    """``path: what`` for each value rewritten to the target's form or derived for it."""
    dropped: list[str]
    """``path: why`` for each value removed because the target version cannot hold it."""


M = TypeVar("M", bound=BaseModel)
L = TypeVar("L", Product, BeschiktProduct)
VOORLETTERS = re.compile(r"[^\s][a-zA-Z]*")
LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")
LDT_NUMMER_MAX = 999_999_999
HEEN = {"toewijzing-retour": "toewijzing", "start-retour": "start", "stop-retour": "stop",
        "verzoek-retour": "verzoek", "verzoek-wijziging-retour": "verzoek-wijziging",
        "verzoek-antwoord-retour": "verzoek-antwoord"}
"""A retour echoes its heenbericht (same Afzender and Ontvanger), so the same rules apply."""


@dataclass(slots=True)
class _Run:
    """One normalisation: the target, the message being rewritten, and the account.

    Copy on write: a rule that changes a part of the message edits ``own(part)``, a shallow copy made on
    the first change, and each level above puts its changed parts into its own copy. What no rule changes
    is shared with the message passed in, which is never changed (a whole copy cost ~36 µs a message)."""

    target: Version
    bericht: Bericht
    source_generation: str
    normalised: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    made: dict[int, BaseModel] = field(default_factory=dict)
    """The copies this run made, by id: they may be edited in place (and are kept alive so ids stay theirs)."""
    soort: str = field(init=False)
    gemeente: str = field(init=False)
    """The gemeente's code: the Afzender of a toewijzing, the Ontvanger of what the aanbieder sends."""
    aanbieder: tuple[str, str] = field(init=False)
    """(header element, AGB code) of the aanbieder."""

    def __post_init__(self) -> None:
        """The header's facts the rules ask for on every line, worked out once."""
        b = self.bericht
        self.soort = HEEN.get(b.soort, b.soort)
        toewijzing = self.soort in ("toewijzing", "verzoek-antwoord")  # sent by the gemeente
        self.gemeente = b.afzender if toewijzing else b.ontvanger
        self.aanbieder = ("Ontvanger", b.ontvanger) if toewijzing else ("Afzender", b.afzender)

    def note(self, path: str, what: str) -> None:
        self.normalised.append(f"{path}: {what}")

    def drop(self, path: str, why: str) -> None:
        self.dropped.append(f"{path}: {why}")

    def fits(self, value: str | None, name: str, *path: str) -> bool:
        """False (and dropped at the path ``path`` spells, joined only then) when ``value`` is longer than the
        target allows for ``name``."""
        if value is None:
            return True
        limit = self.target.lengths.get(name)
        if limit is None or len(value) <= limit:
            return True
        self.drop("".join(path), f"longer than the {limit} characters {self.target.label} allows")
        return False

    def required_fits(self, value: str, name: str, path: str) -> None:
        """Refuse (:class:`TooLong`) a required text longer than the target allows for ``name``."""
        limit = self.target.lengths.get(name)
        if limit is not None and len(value) > limit:
            raise TooLong(path, limit, self.target.label)

    def own(self, model: M) -> M:
        """``model`` to edit: itself when this run made it, else a shallow copy made now."""
        if id(model) in self.made:
            return model
        copy = model.__copy__()
        self.made[id(copy)] = copy
        return copy

    def put(self, model: M, name: str, value: object) -> M:
        """``model`` with ``name`` set to ``value``: ``model`` itself when it already holds that very object."""
        if getattr(model, name) is value:
            return model
        model = self.own(model)
        setattr(model, name, value)
        return model

    def put_all(self, model: M, name: str, items: list[Any]) -> M:
        """``model`` with list ``name`` holding ``items``: itself when they are the very objects it holds."""
        held = getattr(model, name)
        if len(held) == len(items) and all(map(is_, held, items)):
            return model
        model = self.own(model)
        setattr(model, name, items)
        return model


def for_version(bericht: Bericht, wet: str, versie: str) -> Normalised:
    """``bericht`` as iWmo/iJw ``versie`` can hold it; ValueError for a (wet, versie) without rules. The
    result shares every part no rule changed with ``bericht`` (which is left as it was): do not edit it."""
    target = VERSIONS.get((wet, versie))
    if target is None:
        known = ", ".join(f"{w} {v}" for w, v in VERSIONS)
        raise ValueError(f"no version rules for {wet} {versie}: known are {known}")
    if bericht.wet != wet:
        raise ValueError(f"a {bericht.wet} message cannot be written as {target.label}")
    source = "3" if bericht.versie.startswith("3") else bericht.versie
    run = _Run(target, bericht, source)
    b = bericht
    if b.versie != versie:
        run.note("versie", f"written as {target.label}")
        b = run.put(b, "versie", versie)
    b = run.put_all(b, "clients", [_client(run, client, ci, f"clients.{ci}.") for ci, client in enumerate(b.clients)])
    return Normalised(b, run.normalised, run.dropped)


# -- client level ----------------------------------------------------------------------------------


def _client(run: _Run, client: Client, ci: int, path: str) -> Client:
    t = run.target
    if client.naam is not None:
        naam = _naam(run, client.naam, path + "naam.")
        run.required_fits(naam.geslachtsnaam.naam, "naam", path + "naam.geslachtsnaam.naam")
        client = run.put(client, "naam", naam)
    if not run.fits(client.communicatietaal, "communicatietaal", path, "communicatietaal"):
        client = run.put(client, "communicatietaal", None)
    client = run.put(client, "commentaar", _commentaar(run, client.commentaar, path, "commentaar"))
    client = run.put_all(client, "contacten", [_contact(run, contact, f"{path}contacten.{ki}.")
                                               for ki, contact in enumerate(client.contacten)])
    client = run.put_all(client, "relaties", _relaties(run, client, path))
    client = run.put_all(client, "producten", [_product(run, product, ci, pi, f"{path}producten.{pi}.")
                                               for pi, product in enumerate(client.producten)])
    if client.beschikking is not None:
        client = _beschikking(run, client, path)
    if run.soort in ("start", "stop") and t.generation != "3" and client.status_aanlevering is None:
        statuses = {p.status_aanlevering for p in client.producten}
        client = run.put(client, "status_aanlevering", "1" if "1" in statuses else "9")
        run.note(path + "status_aanlevering", f"empty; derived from the product lines (1 when a line is delivered "
                                              f"as new, else 9), required in {t.label}")
    return client


def _naam(run: _Run, naam: Naam, path: str) -> Naam:
    t = run.target
    full = run.soort == "toewijzing"  # CDT_VolledigeNaam (with NaamGebruik) only in the 301 and its 302
    if full and t.generation != "2.0" and naam.naamgebruik is None and naam.geslachtsnaam.naamcode is not None:
        naam = run.put(naam, "naamgebruik", naam.geslachtsnaam.naamcode)
        naam = run.put(naam, "geslachtsnaam", run.put(naam.geslachtsnaam, "naamcode", None))
        run.note(path + "geslachtsnaam.naamcode", f"2.0 per-name NaamCode written as NaamGebruik ({t.label} has "
                                                  "no per-name code)")
    for part in ("geslachtsnaam", "partnernaam"):
        achternaam = getattr(naam, part)
        if achternaam is not None and not run.fits(achternaam.voorvoegsel, "voorvoegsel", path, part,
                                                   ".voorvoegsel"):
            naam = run.put(naam, part, run.put(achternaam, "voorvoegsel", None))
    if naam.partnernaam is not None and not run.fits(naam.partnernaam.naam, "naam", path, "partnernaam"):
        naam = run.put(naam, "partnernaam", None)  # its Naam is required: the Partnernaam goes as a whole
    if not run.fits(naam.voornamen, "voornamen", path, "voornamen"):
        naam = run.put(naam, "voornamen", None)
    value = naam.voorletters
    if value and t.generation != "2.0" and not VOORLETTERS.fullmatch(value):
        bare = re.sub(r"[\s.]", "", value)
        if bare and VOORLETTERS.fullmatch(bare):
            naam = run.put(naam, "voorletters", bare)
            run.note(path + "voorletters", f"written without dots and spaces ({t.label} Voorletters are letters only)")
        else:
            naam = run.put(naam, "voorletters", None)
            run.drop(path + "voorletters", f"{t.label} Voorletters are at most 6 letters")
    return naam


def _commentaar(run: _Run, value: str | None, *path: str) -> str | None:
    """LDT_Commentaar is one line (its pattern's ``.`` excludes line breaks): breaks become one space."""
    if not value or run.target.generation == "2.0" or not ("\n" in value or "\r" in value):
        return value
    run.note("".join(path), f"line breaks written as spaces ({run.target.label} Commentaar is a single line)")
    return LINE_BREAKS.sub(" ", value)


def _contact(run: _Run, contact: Contact, path: str) -> Contact:
    t = run.target
    if not t.lengths:  # 3.x: not narrowed here
        return contact
    adres = contact.adres
    if adres is not None:
        for name in ("huisletter", "huisnummertoevoeging", "postcode", "straatnaam", "plaatsnaam"):
            if not run.fits(getattr(adres, name), name, path, "adres.", name):
                adres = run.put(adres, name, None)
        contact = run.put(contact, "adres", adres)
    for name in ("organisatie", "emailadres"):
        if not run.fits(getattr(contact, name), name, path, name):
            contact = run.put(contact, name, None)
    kept = []
    for ti, tel in enumerate(contact.telefoon):
        where = f"{path}telefoon.{ti}"
        if t.xsd_21 and not tel.landnummer:
            run.drop(where, f"{t.label} needs a Landnummer with every Telefoonnummer")
        elif run.fits(tel.nummer, "telefoon.nummer", where, ".nummer") and run.fits(
                tel.landnummer, "telefoon.landnummer", where, ".landnummer"):
            kept.append(tel)
    return run.put_all(contact, "telefoon", kept)


def _relaties(run: _Run, client: Client, path: str) -> list[Relatie]:
    t = run.target
    kept: list[Relatie] = []
    for ri, relatie in enumerate(client.relaties):
        where = f"{path}relaties.{ri}"
        relatie = run.put(relatie, "naam", _naam(run, relatie.naam, where + ".naam."))
        relatie = run.put_all(relatie, "contacten", [_contact(run, contact, f"{where}.contacten.{ki}.")
                                                     for ki, contact in enumerate(relatie.contacten)])
        if not run.fits(relatie.nummer, "relatie.nummer", where):
            continue  # required in a Relatie: the Relatie goes as a whole
        limit = t.lengths.get("naam")
        if limit is not None and len(relatie.naam.geslachtsnaam.naam) > limit:
            run.drop(where, f"its Geslachtsnaam is longer than the {limit} characters {t.label} allows (required)")
            continue
        if t.xsd_21:
            if not relatie.contacten:
                run.drop(where, f"an {t.label} Relatie needs a Contact")
                continue
            if relatie.naam.naamgebruik is None:
                if relatie.naam.partnernaam is not None:  # 1-4 would all fit (CS050): no ground to choose
                    run.drop(where, f"an {t.label} Relatie needs a NaamGebruik, and with a Partnernaam "
                                    "it could be any of 1-4")
                    continue
                relatie = run.put(relatie, "naam", run.put(relatie.naam, "naamgebruik", "1"))
                run.note(where + ".naam.naamgebruik", f"empty (a zaak does not carry a relative's); written as 1, "
                                                      f"own name: without a Partnernaam only 1 or 6 (not a natural "
                                                      f"person) is valid (CS050), and a relative is a natural "
                                                      f"person in the zaak; required in {t.label}")
            for ki in range(1, len(relatie.contacten)):
                run.drop(f"{where}.contacten.{ki}", f"an {t.label} Relatie has exactly one Contact")
            relatie = run.put_all(relatie, "contacten", relatie.contacten[:1])
        kept.append(relatie)
    return kept


# -- product lines ---------------------------------------------------------------------------------


def _product(run: _Run, product: Product, ci: int, pi: int, path: str) -> Product:
    t = run.target
    product = _reden(run, product, path)
    product = _omvang_fits(run, product, path)
    product = _implied(run, product, path)
    product = _required(run, product, ci, pi, path)
    if product.status_aanlevering is not None and t.status_aanlevering is not None \
            and product.status_aanlevering not in t.status_aanlevering:
        product = run.put(product, "status_aanlevering", None)
        run.drop(path + "status_aanlevering", f"the code is not in the {t.label} StatusAanlevering list")
    product = _beeindiging(run, product, path)
    if product.verwijzer is not None:
        if t.type_verwijzer is not None and product.verwijzer.type not in t.type_verwijzer:
            product = run.put(product, "verwijzer", None)
            run.drop(path + "verwijzer", f"the Verwijzer type is not in the {t.label} list")
        elif not run.fits(product.verwijzer.naam, "verwijzer.naam", path, "verwijzer.naam"):
            product = run.put(product, "verwijzer", run.put(product.verwijzer, "naam", None))
    if t.xsd_21 and product.beschikkingnummer is not None and int(product.beschikkingnummer) > LDT_NUMMER_MAX:
        product = run.put(product, "beschikkingnummer", None)
        run.drop(path + "beschikkingnummer", f"more than 9 digits; {t.label} BeschikkingNummer allows 9")
    return run.put(product, "commentaar", _commentaar(run, product.commentaar, path, "commentaar"))


def _reden(run: _Run, product: Product, path: str) -> Product:
    """RedenIntrekking (2.0) and RedenWijziging (2.1+) into the target's element and list."""
    t = run.target
    if not t.has_reden_wijziging:
        new = REDEN_WIJZIGING_TO_INTREKKING.get(product.reden_wijziging or "")
        if new is not None and product.reden_intrekking is None:
            product = run.put(product, "reden_intrekking", new)
            product = run.put(product, "reden_wijziging", None)
            run.note(path + "reden_wijziging", f"written as the {t.label} RedenIntrekking of the same meaning")
        return product
    if product.reden_intrekking is not None:
        if product.reden_wijziging is None:
            product = run.put(product, "reden_wijziging", REDEN_INTREKKING_TO_WIJZIGING[product.reden_intrekking])
            run.note(path + "reden_intrekking", f"2.0 RedenIntrekking written as the closest {t.label} RedenWijziging")
        else:
            run.drop(path + "reden_intrekking", "RedenWijziging is already set")
        product = run.put(product, "reden_intrekking", None)
    reden = product.reden_wijziging
    if reden is None or t.reden_wijziging is None or reden in t.reden_wijziging:
        return product
    closer = (REDEN_WIJZIGING_TO_3 if t.generation == "3" else REDEN_WIJZIGING_TO_21).get(reden)
    if closer is not None and closer in t.reden_wijziging:
        product = run.put(product, "reden_wijziging", closer)
        run.note(path + "reden_wijziging", f"written as the closest {t.label} code")
    else:
        product = run.put(product, "reden_wijziging", None)
        run.drop(path + "reden_wijziging", f"the code has no {t.label} equivalent")
    return product


def _omvang_fits(run: _Run, line: L, path: str) -> L:
    t, omvang = run.target, line.omvang
    if omvang is None:
        return line
    if t.eenheid is not None and omvang.eenheid not in t.eenheid:
        line = run.put(line, "omvang", None)
        run.drop(path + "omvang", f"the Eenheid is not in the {t.label} list")
    elif t.frequentie is not None and omvang.frequentie not in t.frequentie:
        line = run.put(line, "omvang", None)
        run.drop(path + "omvang", f"the Frequentie is not in the {t.label} list")
    return line


def _implied(run: _Run, product: Product, path: str) -> Product:
    """Line fields the target says once in the header: Gemeentecode (2.1+), the Aanbieder (3.x)."""
    t = run.target
    if t.generation != "2.0" and product.gemeentecode is not None and product.gemeentecode == run.gemeente:
        product = run.put(product, "gemeentecode", None)
        run.note(path + "gemeentecode", f"equals the message's gemeente, which the header carries in {t.label}")
    role, agb = run.aanbieder
    if t.generation == "3" and product.aanbieder is not None and product.aanbieder == agb:
        product = run.put(product, "aanbieder", None)
        run.note(path + "aanbieder", f"equals the header {role}, which carries it in {t.label}")
    return product


def _required(run: _Run, product: Product, ci: int, pi: int, path: str) -> Product:
    """What the target requires on a line and the message says elsewhere."""
    t, b = run.target, run.bericht
    if t.generation == "2.0":
        return product
    role, agb = run.aanbieder
    if t.generation == "2.1" and product.aanbieder is None and is_agb(agb) \
            and run.soort in ("toewijzing", "verzoek", "start", "stop"):
        product = run.put(product, "aanbieder", agb)
        run.note(path + "aanbieder", f"empty; the message's {role} written (required in {t.label})")
    if run.soort == "toewijzing" and product.toewijzingsdatum is None:
        product = run.put(product, "toewijzingsdatum", b.dagtekening)
        run.note(path + "toewijzingsdatum", f"empty; the Dagtekening written (required in {t.label})")
    if run.soort == "verzoek" and product.referentie_aanbieder is None:
        reference = f"{b.identificatie}-{ci + 1}-{pi + 1}"
        if len(reference) <= 36:
            product = run.put(product, "referentie_aanbieder", reference)
            run.note(path + "referentie_aanbieder", f"empty; BerichtIdentificatie-client-product written "
                                                    f"(required in {t.label})")
    return product


def _beeindiging(run: _Run, product: Product, path: str) -> Product:
    """RedenBeeindiging keeps its code only where the code means the same in the target list."""
    t, code = run.target, product.reden_beeindiging
    if code is None:
        return product
    source, target = run.source_generation[0], t.generation[0]
    if source != target:
        same = BEEINDIGING_SAME_MEANING.get((t.wet, min(source, target), max(source, target)), frozenset())
        if code not in same:
            run.drop(path + "reden_beeindiging", f"the code means something else (or nothing) in {t.label}")
            return run.put(product, "reden_beeindiging", None)
    if t.reden_beeindiging is not None and code not in t.reden_beeindiging:
        product = run.put(product, "reden_beeindiging", None)
        run.drop(path + "reden_beeindiging", f"the code is not in the {t.label} RedenBeeindiging list")
    return product


# -- beschikking (2.x) -----------------------------------------------------------------------------


def _beschikking(run: _Run, client: Client, client_path: str) -> Client:
    t, b, path = run.target, client.beschikking, client_path + "beschikking."
    assert b is not None
    b = run.put(b, "commentaar", _commentaar(run, b.commentaar, path, "commentaar"))
    kept: list[Beperking] = []
    for ni, beperking in enumerate(b.beperkingen):
        where = f"{path}beperkingen.{ni}"
        if t.beperking is not None and beperking.categorie not in t.beperking:
            run.drop(where, f"the Beperking categorie is not in the {t.label} list")
            continue
        beperking = run.put(beperking, "commentaar", _commentaar(run, beperking.commentaar, where, ".commentaar"))
        scores = [run.put(score, "commentaar", _commentaar(run, score.commentaar, where, f".scores.{si}.commentaar"))
                  for si, score in enumerate(beperking.scores)]
        kept.append(run.put_all(beperking, "scores", scores))
    b = run.put_all(b, "beperkingen", kept)
    beschikt_lines = []
    for ni, beschikt in enumerate(b.producten):
        where = f"{path}producten.{ni}."
        beschikt = _omvang_fits(run, beschikt, where)
        beschikt_lines.append(run.put(beschikt, "commentaar", _commentaar(run, beschikt.commentaar, where,
                                                                          "commentaar")))
    b = run.put_all(b, "producten", beschikt_lines)
    client = run.put(client, "beschikking", b)
    if run.soort != "toewijzing" or t.generation != "2.1":
        return client
    lines = []
    for pi, product in enumerate(client.producten):
        where = f"{client_path}producten.{pi}."
        if product.beschikkingnummer is not None and product.beschikkingnummer == b.nummer:
            product = run.put(product, "beschikkingnummer", None)
            run.note(where + "beschikkingnummer", "equals the BeschikkingNummer the line sits in")
        if product.beschikking_ingangsdatum is not None and product.beschikking_ingangsdatum == b.ingangsdatum:
            product = run.put(product, "beschikking_ingangsdatum", None)
            run.note(where + "beschikking_ingangsdatum", "equals the Ingangsdatum of the Beschikking the line sits in")
        lines.append(product)
    client = run.put_all(client, "producten", lines)
    if not b.producten and lines and all(p.categorie and p.ingangsdatum for p in lines):
        b = run.put(b, "producten", [BeschiktProduct(categorie=p.categorie, code=p.code, ingangsdatum=p.ingangsdatum,
                                                     einddatum=p.einddatum, omvang=p.omvang)
                                     for p in lines])
        client = run.put(client, "beschikking", b)
        run.note(path + "producten", f"none in the message; each toegewezen product written as BeschiktProduct as "
                                     f"well ({t.label} requires BeschiktProducten)")
    return client
