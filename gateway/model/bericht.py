"""The canonical sociaal-domein message: what a WMO/JW 301, 315, 305, 307, 317, 319 or retour says, whatever its
dialect.

Every dialect maps into these classes and every profile renders from them, so this is the one
place where the domain's rules (BSN 11-proef, date order, code lists) are enforced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from . import codes
from .checks import bsn_is_valid, is_agb


def _bsn(value: str) -> str:
    if not bsn_is_valid(value):
        raise ValueError("BSN fails the 11-proef (9 digits, weights 9..2 and -1, sum divisible by 11)")
    return value


def _agb(value: str) -> str:
    if not is_agb(value):
        raise ValueError("AGB code must be exactly 8 digits")
    return value


Bsn = Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$"), AfterValidator(_bsn)]
Agb = Annotated[str, AfterValidator(_agb)]
Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]+$", max_length=18)]
Text = Annotated[str, StringConstraints(min_length=1)]
Extra = dict[str, str]


class _Model(BaseModel):
    """Strict about unknown fields so a mapping typo is an error, not a silent drop."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=False)


def _check_period(start: dt.date | None, end: dt.date | None, what: str) -> None:
    if start is not None and end is not None and end < start:
        # no dates in the text: the period of someone's care is care data, and the text reaches Fo03 and reports
        raise ValueError(f"{what}: einddatum lies before ingangsdatum")


class Achternaam(_Model):
    """A surname with its prefix (CDT_Achternaam); ``naamcode`` is the 2.0/EI per-name code."""

    naam: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    voorvoegsel: str | None = Field(default=None, max_length=10)  # CDT_Achternaam; StUF-BG allows 10 too
    naamcode: codes.NaamGebruik | None = None


class Naam(_Model):
    """CDT_VolledigeNaam / CDT_VerkorteNaam."""

    geslachtsnaam: Achternaam
    partnernaam: Achternaam | None = None
    voornamen: str | None = Field(default=None, max_length=200)
    voorletters: str | None = Field(default=None, max_length=6)
    naamgebruik: codes.NaamGebruik | None = None


class Adres(_Model):
    """CDT_Adres with CDT_Huis flattened."""

    huisnummer: int | None = Field(default=None, ge=0, le=99999)
    huisletter: str | None = None
    huisnummertoevoeging: str | None = None
    aanduiding_woonadres: codes.AanduidingWoonadres | None = None
    postcode: str | None = None
    straatnaam: str | None = None
    plaatsnaam: str | None = None
    landcode: str | None = Field(default=None, min_length=2, max_length=2)


class Telefoon(_Model):
    """LDT_Telefoonnummer: at most 15 characters, one non-space character (e.g. ``+``) then digits."""

    nummer: Annotated[str, StringConstraints(pattern=r"^\S[0-9]*$", max_length=15)]
    landnummer: str | None = None


class Contact(_Model):
    """An address or contact of a client or relation (2.0 ``Adres``, 2.1+ ``Contact``)."""

    soort: codes.SoortAdres
    adres: Adres | None = None
    organisatie: str | None = None
    telefoon: list[Telefoon] = Field(default_factory=list, max_length=2)
    emailadres: str | None = None
    begindatum: dt.date | None = None
    einddatum: dt.date | None = None
    retourcodes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period(self) -> Contact:
        _check_period(self.begindatum, self.einddatum, "contact periode")
        return self


class Relatie(_Model):
    nummer: Text
    volgorde: int | None = Field(default=None, ge=0, le=99)
    soort: codes.SoortRelatie
    geboortedatum: dt.date | None = None
    geboortedatum_gebruik: codes.DatumGebruik | None = None
    geslacht: codes.Geslacht | None = None
    naam: Naam
    contacten: list[Contact] = Field(default_factory=list)
    retourcodes: list[str] = Field(default_factory=list)


class Omvang(_Model):
    """CDT_Omvang: how much care, in which unit, how often."""

    volume: int = Field(ge=0, le=99999999)
    eenheid: codes.Eenheid
    frequentie: codes.Frequentie


class Verwijzer(_Model):
    type: codes.TypeVerwijzer
    naam: str | None = None
    zorgverlenercode: Agb | None = None


class BeperkingScore(_Model):
    vraag: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]
    score: codes.BeperkingScore
    commentaar: str | None = None
    retourcodes: list[str] = Field(default_factory=list)


class Beperking(_Model):
    categorie: codes.BeperkingCategorie
    duur: codes.BeperkingDuur | None = None
    commentaar: str | None = None
    scores: list[BeperkingScore] = Field(default_factory=list)
    retourcodes: list[str] = Field(default_factory=list)


class BeschiktProduct(_Model):
    """A product granted by the beschikking (2.x only); the toewijzing lines are ``Product``."""

    categorie: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")]
    code: str | None = Field(default=None, max_length=5)
    ingangsdatum: dt.date
    einddatum: dt.date | None = None
    omvang: Omvang | None = None
    commentaar: str | None = None
    retourcodes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period(self) -> BeschiktProduct:
        _check_period(self.ingangsdatum, self.einddatum, "beschikt product")
        return self


class Beschikking(_Model):
    nummer: Digits
    afgiftedatum: dt.date | None = None
    ingangsdatum: dt.date | None = None
    einddatum: dt.date | None = None
    commentaar: str | None = None
    grondslagen: list[codes.Grondslag] = Field(default_factory=list, max_length=2)
    beperkingen: list[Beperking] = Field(default_factory=list)
    producten: list[BeschiktProduct] = Field(default_factory=list)
    retourcodes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _period(self) -> Beschikking:
        _check_period(self.ingangsdatum, self.einddatum, "beschikking")
        return self


class Product(_Model):
    """One product line: a toegewezen (301), aangevraagd (315), start (305), stop (307) or 317 product."""

    beschikkingnummer: Digits | None = None
    beschikking_ingangsdatum: dt.date | None = None
    toewijzingnummer: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,9}$")] | None = None
    referentie_aanbieder: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None
    categorie: Annotated[str, StringConstraints(pattern=r"^[0-9]{2}$")] | None = None
    code: str | None = Field(default=None, max_length=5)
    ingangsdatum: dt.date | None = None
    einddatum: dt.date | None = None
    begindatum: dt.date | None = None
    toewijzingsdatum: dt.date | None = None
    toewijzingstijd: dt.time | None = None
    aanbieder: Agb | None = None
    gemeentecode: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = None
    omvang: Omvang | None = None
    budget: int | None = Field(default=None, ge=0, le=99999999)
    leveringsvorm: codes.Leveringsvorm | None = None
    reden_wijziging: codes.RedenWijziging | None = None
    reden_intrekking: codes.RedenIntrekking | None = None
    reden_beeindiging: codes.RedenBeeindiging | None = None
    verwijzer: Verwijzer | None = None
    commentaar: str | None = None
    raamcontract: codes.JaNee | None = None
    status_aanlevering: codes.StatusAanlevering | None = None
    verzoek_groep: codes.VerzoekGroep | None = None
    retourcodes: list[str] = Field(default_factory=list)
    extra: Extra = Field(default_factory=dict)

    @model_validator(mode="after")
    def _period(self) -> Product:
        _check_period(self.ingangsdatum, self.einddatum, "product")
        return self

    @property
    def gewijzigd(self) -> bool:
        """A line that changes an earlier toewijzing (intrekking, wijziging) rather than adding one."""
        return self.reden_wijziging is not None or self.reden_intrekking is not None


class Client(_Model):
    """The person a message is about. Geboortedatum, geslacht and naam are required in every family
    but the 3.x 317, whose client is its BSN alone (checked in :class:`Bericht`)."""

    bsn: Bsn
    clientnummer: str | None = None
    geheim: codes.JaNee | None = None
    geboortedatum: dt.date | None = None
    geboortedatum_gebruik: codes.DatumGebruik | None = None
    geslacht: codes.Geslacht | None = None
    naam: Naam | None = None
    leefeenheid: codes.Leefeenheid | None = None
    communicatievorm: codes.Communicatievorm | None = None
    communicatietaal: str | None = None
    juridische_status: codes.JuridischeStatus | None = None
    wettelijke_vertegenwoordiging: codes.WettelijkeVertegenwoordiging | None = None
    gezagsdrager_bekend: codes.JaNee | None = None
    commentaar: str | None = None
    status_aanlevering: codes.StatusAanlevering | None = None
    referentie_aanbieder: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = None
    reden_verzoek: codes.RedenVerzoek | None = None
    relaties: list[Relatie] = Field(default_factory=list)
    contacten: list[Contact] = Field(default_factory=list)
    beschikking: Beschikking | None = None
    producten: list[Product] = Field(default_factory=list)
    retourcodes: list[str] = Field(default_factory=list)
    extra: Extra = Field(default_factory=dict)


class Antwoord(_Model):
    """What a 3.x 319 antwoordbericht says about the verzoek its ReferentieAanbieder names (a 315 line or a whole
    317): VerzoekAntwoord (WJ760: 1 verzoek afgewezen, 2 aanvraag in onderzoek) and, for a refusal, the
    RedenAfwijzingVerzoek (WJ759). A 319 names no client: it has no BSN."""

    referentie_aanbieder: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    verzoek_antwoord: codes.VerzoekAntwoord
    reden_afwijzing: codes.RedenAfwijzingVerzoek | None = None
    retourcodes: list[str] = Field(default_factory=list)


ANSWERS: frozenset[str] = frozenset({"verzoek-antwoord", "verzoek-antwoord-retour"})
"""Message kinds that carry an :class:`Antwoord` and no client (the 3.x 319 and its 320 retour)."""

PERSON_OPTIONAL: frozenset[str] = frozenset({"verzoek-wijziging", "verzoek-wijziging-retour"})
"""Message kinds whose client may be named by BSN alone (the 3.x 317 and its 318 retour)."""


class Bericht(_Model):
    """The canonical message; ``clients`` may be empty only for a retour rejected at header level."""

    wet: codes.Wet
    soort: codes.Berichtsoort
    berichtcode: Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
    versie: str
    afzender: Digits
    ontvanger: Digits
    identificatie: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    dagtekening: dt.date
    tekenset: str | None = None
    xsd_versie_basisschema: str | None = None
    xsd_versie_bericht: str | None = None
    identificatie_retour: str | None = None
    dagtekening_retour: dt.date | None = None
    retourcodes: list[str] = Field(default_factory=list)
    clients: list[Client] = Field(default_factory=list)
    antwoord: Antwoord | None = None
    """The 319's answer (:data:`ANSWERS`); None in every other kind."""
    extra: Extra = Field(default_factory=dict)

    def digest(self) -> str:
        """What the message says, as a SHA-256: equal for a re-send in any envelope or formatting, so a
        gateway can tell a re-send from another message that reuses the identificatie. A message without an
        antwoord is hashed without the field, so digests stored before the 319 was converted stay equal."""
        return hashlib.sha256(self.model_dump_json(exclude={"antwoord"} if self.antwoord is None else None
                                                   ).encode()).hexdigest()

    @model_validator(mode="after")
    def _domain(self) -> Bericht:
        known = codes.BERICHTCODES.get(self.berichtcode)
        if known is not None and known != (self.wet, self.soort):
            raise ValueError(
                f"berichtcode {self.berichtcode} is a {known[0]} {known[1]} message, "
                f"not {self.wet} {self.soort}"
            )
        if self.soort in ANSWERS:
            if self.clients:
                raise ValueError(f"clients: a {self.soort} message names no client")
            if self.antwoord is None and self.soort == "verzoek-antwoord":
                raise ValueError("antwoord: required in a verzoek-antwoord message")
        elif self.antwoord is not None:
            raise ValueError(f"antwoord: only a verzoek-antwoord message carries one, not a {self.soort}")
        if self.soort not in PERSON_OPTIONAL:
            for ci, client in enumerate(self.clients):
                for name in ("geboortedatum", "geslacht", "naam"):
                    if getattr(client, name) is None:
                        raise ValueError(f"clients.{ci}.{name}: required in a {self.soort} message")
        allowed = codes.PRODUCTCATEGORIE_WMO if self.wet == "wmo" else codes.PRODUCTCATEGORIE_JW
        listname = "WMO020" if self.wet == "wmo" else "JZ020"
        for ci, client in enumerate(self.clients):  # the path is only spelled out for an error
            lines: list[tuple[str, list[Product] | list[BeschiktProduct]]] = [("producten", client.producten)]
            if client.beschikking is not None:
                lines.append(("beschikking.producten", client.beschikking.producten))
            for where, products in lines:
                for pi, p in enumerate(products):
                    if p.categorie is not None and p.categorie not in allowed:
                        raise ValueError(f"clients.{ci}.{where}.{pi}.categorie: productcategorie {p.categorie} is "
                                         f"not in code list {listname}")
        return self
