"""Profile ``zkn``: the canonical message as StUF-ZKN 3.10 ``zakLk01`` kennisgevingen.

One zaak per client of a message (the client's beschikking, or the client's verzoek). The ZAK
holds what StUF-ZKN has a place for (identificatie, dates, zaaktype, the client as initiator);
every other canonical field travels as a ``StUF:extraElement`` named by its canonical path, with
1-based indexes for repeated parts (``product.1.omvang.volume``). docs/canonical-spec.md is the
table of it all. Output is built as text (about ten times cheaper than building an lxml tree)
and is deterministic: converting the same message twice gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from gateway.model import Bericht, Client, Product

from .settings import RenderSettings

ZKN_NS = "http://www.egem.nl/StUF/sector/zkn/0310"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
BG_NS = "http://www.egem.nl/StUF/sector/bg/0310"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

GESLACHT_STUF = {"0": "O", "1": "M", "2": "V"}
DATUMGEBRUIK_STUF = {"1": "D", "2": "M", "3": "J"}  # COD170 -> StUF indOnvolledigeDatum
# RedenWijziging codes (2.1+) after which a toewijzing no longer runs: overleden, uitstroom,
# verhuizing, andere aanbieder, verwijderd. A 2.0 RedenIntrekking always withdraws.
ENDING_REDEN_WIJZIGING = frozenset({"02", "06", "07", "09", "13"})

LIST_ITEM = {
    "relaties": "relatie", "contacten": "contact", "producten": "product", "telefoon": "telefoon",
    "beperkingen": "beperking", "scores": "score", "grondslagen": "grondslag", "retourcodes": "retourcode",
}
"""List field -> the singular used in extraElement names (``client.contact.1.adres.postcode``)."""

# Canonical client fields that ZAK holds natively (initiator natuurlijkPersoon); not repeated as extra.
CLIENT_NATIVE = frozenset({
    "bsn", "geboortedatum", "geslacht", "naam.geslachtsnaam.naam", "naam.geslachtsnaam.voorvoegsel",
    "naam.voorletters", "naam.voornamen",
})


class RenderError(ValueError):
    """The canonical message cannot be expressed in the profile (e.g. an identificatie too long)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Rendered:
    """One output message: its stable reference, a file-name stem, the zaak id and the XML bytes."""

    referentienummer: str
    name: str
    zaak: str
    xml: bytes
    mutatiesoort: str


def esc(value: str) -> str:
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    return value


def stuf_value(value: Any) -> str:
    """Canonical value -> StUF text: dates yyyymmdd, times hhmmss, the rest as text."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is dt.date:
        return value.isoformat().replace("-", "")  # isoformat is C; strftime is several times slower
    if kind is dt.time:
        return value.isoformat()[:8].replace(":", "")
    return str(value)


def _xml_text(value: Any) -> str:
    """Escaped element text; only strings can hold markup characters."""
    return esc(value) if type(value) is str else stuf_value(value)


def flatten(obj: Any, prefix: str, skip: frozenset[str] = frozenset()) -> list[tuple[str, Any]]:
    """(canonical path, value) for every filled field of a model, lists numbered from 1.

    Works on ``model_dump(exclude_none=True)`` (done in Rust) rather than on model attributes,
    which is several times faster for a whole message.
    """
    data = obj.model_dump(exclude_none=True, exclude=set(skip) or None) if isinstance(obj, BaseModel) else obj
    out: list[tuple[str, Any]] = []
    _flatten_dict(data, prefix, skip, out)
    return out


def _flatten_dict(data: dict[str, Any], prefix: str, skip: frozenset[str], out: list[tuple[str, Any]]) -> None:
    for name, value in data.items():
        if (not value and type(value) in (list, dict)) or name in skip:
            continue
        if name == "extra":
            for key, extra in value.items():
                out.append((f"{prefix}extra.{key}", extra))
        elif isinstance(value, dict):
            _flatten_dict(value, f"{prefix}{name}.", _NO_SKIP, out)
        elif isinstance(value, list):
            item = LIST_ITEM.get(name, name)
            for i, element in enumerate(value, 1):
                if isinstance(element, dict):
                    _flatten_dict(element, f"{prefix}{item}.{i}.", _NO_SKIP, out)
                else:
                    out.append((f"{prefix}{item}.{i}", element))
        else:
            out.append((prefix + name, value))


_NO_SKIP: frozenset[str] = frozenset()


def referentienummer(bericht: Bericht, client_index: int, part: str = "") -> str:
    """Stable per source message and client: a receiver can de-duplicate on it."""
    key = "|".join((bericht.wet, bericht.berichtcode, bericht.afzender, bericht.ontvanger, bericht.identificatie,
                    bericht.dagtekening.isoformat(), str(client_index), part))
    return "OVS" + hashlib.sha256(key.encode()).hexdigest()[:32].upper()


def tijdstip(bericht: Bericht, client: Client | None) -> str:
    """The source message's own moment (Dagtekening + Toewijzingstijd), so output is reproducible."""
    time = next((p.toewijzingstijd for p in client.producten if p.toewijzingstijd), None) if client else None
    return bericht.dagtekening.strftime("%Y%m%d") + (time.strftime("%H%M%S") if time else "000000") + "000"


def heen_soort(soort: str) -> str:
    """The message kind a retour answers (``toewijzing-retour`` -> ``toewijzing``); others are their own."""
    return soort.removesuffix("-retour")


def gemeente_and_aanbieder(bericht: Bericht) -> tuple[str, str]:
    """301/302 travel gemeente -> aanbieder; all other families the other way (also in retours)."""
    if bericht.soort.startswith("toewijzing"):
        return bericht.afzender, bericht.ontvanger
    return bericht.ontvanger, bericht.afzender


def zaak_identificatie(bericht: Bericht, client: Client, index: int, settings: RenderSettings) -> str:
    gemeente, aanbieder = gemeente_and_aanbieder(bericht)
    beschikking = client.beschikking
    first: Product | None = client.producten[0] if client.producten else None
    values = {
        "gemeente": gemeente, "aanbieder": aanbieder, "afzender": bericht.afzender,
        "ontvanger": bericht.ontvanger, "identificatie": bericht.identificatie, "client": str(index + 1),
        "beschikkingnummer": (beschikking.nummer if beschikking else None) or (first.beschikkingnummer if first
                                                                                 else None),
        "beschikking_ingangsdatum": _yyyymmdd(
            (beschikking.ingangsdatum if beschikking else None) or (first.beschikking_ingangsdatum if first else None)),
        "toewijzingnummer": first.toewijzingnummer if first else None,
        "referentie_aanbieder": first.referentie_aanbieder if first else None,
        "dagtekening": bericht.dagtekening.strftime("%Y%m%d"),
    }
    soort = bericht.soort
    heen = heen_soort(soort)
    # A retour reports on the zaak of its heenbericht: same template, and it copies the heenbericht's
    # BerichtIdentificatie, so it names the same zaak unless a template for the retour itself is set.
    keys = [soort, heen, "default"] if heen != soort else [soort, "default"]
    if heen == "toewijzing" and not values["beschikkingnummer"]:
        keys.insert(keys.index(heen), "toewijzing.zonder-beschikking")
    for key in keys:
        template = settings.identificatie.get(key)
        if template is None:
            continue
        try:
            ident = template.format_map(_Strict(values))
        except KeyError as exc:
            if key == keys[-1]:
                raise RenderError(f"zaak identificatie template {template!r} needs {exc.args[0]}, which this "
                                  "message does not have", "identificatie") from None
            continue
        if not 5 <= len(ident) <= 40:
            raise RenderError(f"zaak identificatie {ident!r} must be 5..40 characters (StUF-ZKN ZaakIdentificatie)",
                              "identificatie")
        return ident
    raise RenderError("no zaak identificatie template applies", "identificatie")


class _Strict(dict):  # type: ignore[type-arg]
    def __getitem__(self, key: str) -> str:
        value = dict.get(self, key)
        if value is None or value == "":
            raise KeyError(key)
        return value

    def __missing__(self, key: str) -> str:
        raise KeyError(key)


def _yyyymmdd(value: dt.date | None) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def _ends(product: Product) -> bool:
    return product.reden_intrekking is not None or product.reden_wijziging in ENDING_REDEN_WIJZIGING


def zaak_dates(bericht: Bericht, client: Client) -> tuple[dt.date | None, dt.date | None, dt.date | None]:
    """(startdatum, einddatumGepland, einddatum) of the zaak, by message kind.

    Toewijzing, verzoek and 317: the beschikking's period, else the product lines' (a planned end only
    when every line has one; an actual end when every line is withdrawn). Start (305) and stop (307)
    report delivery: startdatum is the first Begindatum, and a stop closes the zaak on its last
    Einddatum. Lines with StatusAanlevering 3 (verwijderen) take back an earlier report and count for
    neither. A retour has the dates of its heenbericht.
    """
    heen = heen_soort(bericht.soort)
    if heen in ("start", "stop"):
        live = [p for p in client.producten if p.status_aanlevering != "3"]
        begins = [p.begindatum for p in live if p.begindatum]
        startdatum = min(begins) if begins else None
        if heen == "start":
            return startdatum, None, None
        stops = [p.einddatum for p in live if p.einddatum]
        return startdatum, None, (max(stops) if stops and len(stops) == len(live) else None)
    beschikking = client.beschikking
    starts = [p.ingangsdatum for p in client.producten if p.ingangsdatum]
    ends = [p.einddatum for p in client.producten if p.einddatum]
    startdatum = (beschikking.ingangsdatum if beschikking and beschikking.ingangsdatum else None) or (
        min(starts) if starts else None)
    gepland = (beschikking.einddatum if beschikking and beschikking.einddatum else None) or (
        max(ends) if ends and len(ends) == len(client.producten) else None)  # an open-ended line: no planned end
    einddatum = max(ends) if (client.producten and ends and all(_ends(p) for p in client.producten)) else None
    return startdatum, gepland, einddatum


def _el(out: list[str], tag: str, value: str | None) -> None:
    if value:
        out.append(f"<{tag}>{esc(value)}</{tag}>")


def render_client(bericht: Bericht, index: int, settings: RenderSettings) -> Rendered:
    client = bericht.clients[index]
    gemeente, aanbieder = gemeente_and_aanbieder(bericht)
    ident = zaak_identificatie(bericht, client, index, settings)
    ref = referentienummer(bericht, index)
    wijziging = any(p.gewijzigd for p in client.producten)
    heen = heen_soort(bericht.soort)
    retour = heen != bericht.soort
    mutatie = "W" if wijziging or retour else "T"  # a retour updates the zaak of its heenbericht
    beschikking = client.beschikking
    startdatum, gepland, einddatum = zaak_dates(bericht, client)
    zaaktype = next((settings.zaaktype[k] for k in (f"{bericht.wet}.{bericht.soort}", bericht.soort,
                                                     f"{bericht.wet}.{heen}", heen) if settings.zaaktype.get(k)), None)
    if not zaaktype or len(zaaktype) > 10:
        raise RenderError(f"no zaaktype code (max 10 characters) configured for {bericht.wet}.{bericht.soort}",
                          "zaaktype")
    wet_label = "Wmo" if bericht.wet == "wmo" else "Jeugdwet"
    omschrijving = settings.omschrijving.format(
        Wet=wet_label, wet=bericht.wet, soort=bericht.soort, bericht=bericht.berichtcode, client=index + 1,
        beschikking=beschikking.nummer if beschikking else "", gemeente=gemeente, aanbieder=aanbieder,
    )[:80]

    out: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<ZKN:zakLk01 xmlns:ZKN="{ZKN_NS}" xmlns:StUF="{STUF_NS}" xmlns:BG="{BG_NS}" xmlns:xsi="{XSI_NS}">',
        "<ZKN:stuurgegevens><StUF:berichtcode>Lk01</StUF:berichtcode><StUF:zender>",
    ]
    _el(out, "StUF:organisatie", settings.zender.organisatie or bericht.afzender)
    _el(out, "StUF:applicatie", settings.zender.applicatie)
    out.append("</StUF:zender><StUF:ontvanger>")
    _el(out, "StUF:organisatie", settings.ontvanger.organisatie or bericht.ontvanger)
    _el(out, "StUF:applicatie", settings.ontvanger.applicatie)
    out.append("</StUF:ontvanger>")
    _el(out, "StUF:referentienummer", ref)
    _el(out, "StUF:tijdstipBericht", tijdstip(bericht, client))
    out.append("<StUF:entiteittype>ZAK</StUF:entiteittype></ZKN:stuurgegevens>")
    out.append(f"<ZKN:parameters><StUF:mutatiesoort>{mutatie}</StUF:mutatiesoort>"
               "<StUF:indicatorOvername>V</StUF:indicatorOvername></ZKN:parameters>")
    if mutatie == "W":
        # ZDS updateZaak: old and new state. Overstap is stateless, so the old object names the zaak
        # and marks the dates a withdrawal changes as waardeOnbekend; the new object is the full state.
        # A retour changes no dates: its old object only names the zaak.
        out.append('<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="W">')
        _el(out, "ZKN:identificatie", ident)
        if wijziging:
            out.append('<ZKN:einddatumGepland xsi:nil="true" StUF:noValue="waardeOnbekend"/>')
            out.append('<ZKN:einddatum xsi:nil="true" StUF:noValue="waardeOnbekend"/>')
        out.append("</ZKN:object>")
    out.append(f'<ZKN:object StUF:entiteittype="ZAK" StUF:verwerkingssoort="{mutatie}">')
    _el(out, "ZKN:identificatie", ident)
    _el(out, "ZKN:omschrijving", omschrijving)
    _el(out, "ZKN:startdatum", _yyyymmdd(startdatum))
    _el(out, "ZKN:registratiedatum", bericht.dagtekening.strftime("%Y%m%d"))
    _el(out, "ZKN:einddatumGepland", _yyyymmdd(gepland))
    _el(out, "ZKN:einddatum", _yyyymmdd(einddatum))
    out.append("<StUF:extraElementen>")
    _extra_xml(bericht, client, out)
    out.append("</StUF:extraElementen>")
    out.append('<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">'
               '<ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">')
    _el(out, "ZKN:code", zaaktype)
    out.append("</ZKN:gerelateerde></ZKN:isVan>")
    out.append('<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T"><ZKN:gerelateerde>'
               '<ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">')
    _el(out, "BG:inp.bsn", client.bsn)
    naam = client.naam  # absent only in a 317, whose client is its BSN alone
    if naam is not None:
        _el(out, "BG:geslachtsnaam", naam.geslachtsnaam.naam[:200])
        _el(out, "BG:voorvoegselGeslachtsnaam", naam.geslachtsnaam.voorvoegsel)
        _el(out, "BG:voorletters", naam.voorletters)
        _el(out, "BG:voornamen", naam.voornamen)
    if client.geslacht is not None:
        _el(out, "BG:geslachtsaanduiding", GESLACHT_STUF[client.geslacht])
    if client.geboortedatum is not None:
        indicator = DATUMGEBRUIK_STUF.get(client.geboortedatum_gebruik or "")
        attr = f' StUF:indOnvolledigeDatum="{indicator}"' if indicator else ""
        out.append(f"<BG:geboortedatum{attr}>{client.geboortedatum.strftime('%Y%m%d')}</BG:geboortedatum>")
    out.append("</ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator></ZKN:object></ZKN:zakLk01>\n")
    name = f"{ident}-{bericht.berichtcode}-{bericht.identificatie}"
    return Rendered(ref, name, ident, "".join(out).encode("utf-8"), mutatie)


def extra_elements(bericht: Bericht, client: Client) -> list[tuple[str, Any]]:
    """Every canonical field ZAK cannot hold, by its documented extraElement name (see ``_extra_xml``)."""
    out = flatten(bericht, "bericht.", frozenset({"clients"}))
    for name, value in flatten(client, ""):
        if name in CLIENT_NATIVE:
            continue
        out.append((name if name.startswith(("beschikking.", "product.")) else "client." + name, value))
    return out


_OPEN = '<StUF:extraElement naam="'
_CLOSE = "</StUF:extraElement>"


def _emit(data: dict[str, Any], prefix: str, out: list[str]) -> None:
    """Append one extraElement per filled leaf of ``data`` (a model_dump), named by canonical path."""
    for name, value in data.items():
        kind = type(value)
        if kind is dict:
            if not value:
                continue
            if name == "extra":
                for key, extra in value.items():
                    out.append(f'{_OPEN}{prefix}extra.{key}">{esc(extra)}{_CLOSE}')
            else:
                _emit(value, f"{prefix}{name}.", out)
        elif kind is list:
            item = LIST_ITEM.get(name, name)
            for i, element in enumerate(value, 1):
                if type(element) is dict:
                    _emit(element, f"{prefix}{item}.{i}.", out)
                else:
                    out.append(f'{_OPEN}{prefix}{item}.{i}">{_xml_text(element)}{_CLOSE}')
        else:
            out.append(f'{_OPEN}{prefix}{name}">{_xml_text(value)}{_CLOSE}')


def _extra_xml(bericht: Bericht, client: Client, out: list[str]) -> None:
    """The extraElementen of one zaak, written straight from ``model_dump`` (the hot path).

    Same names and order as :func:`extra_elements`; a test keeps the two equal.
    """
    _emit(bericht.model_dump(exclude_none=True, exclude={"clients"}), "bericht.", out)
    data = client.model_dump(exclude_none=True, exclude={"bsn", "geboortedatum", "geslacht"})
    naam = data.get("naam")
    if naam is not None:  # the NPS holds these natively (CLIENT_NATIVE)
        naam.pop("voornamen", None)
        naam.pop("voorletters", None)
        achternaam = naam.get("geslachtsnaam")
        if achternaam is not None:
            achternaam.pop("naam", None)
            achternaam.pop("voorvoegsel", None)
    for name, value in data.items():
        if name == "beschikking":
            _emit(value, "beschikking.", out)
        elif name == "producten":
            for i, product in enumerate(value, 1):
                _emit(product, f"product.{i}.", out)
        else:
            _emit({name: value}, "client.", out)


INITIATOR = "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
NATIVE_PLACES: dict[str, list[str]] = {
    "bsn": [INITIATOR + "BG:inp.bsn"],
    "naam.geslachtsnaam.naam": [INITIATOR + "BG:geslachtsnaam"],
    "naam.geslachtsnaam.voorvoegsel": [INITIATOR + "BG:voorvoegselGeslachtsnaam"],
    "naam.voorletters": [INITIATOR + "BG:voorletters"],
    "naam.voornamen": [INITIATOR + "BG:voornamen"],
    "geslacht": [INITIATOR + "BG:geslachtsaanduiding (0/1/2 -> O/M/V)"],
    "geboortedatum": [INITIATOR + "BG:geboortedatum"],
}
DERIVED_PLACES: dict[str, list[str]] = {
    "bericht.afzender": ["ZKN:stuurgegevens/StUF:zender/StUF:organisatie (unless configured)"],
    "bericht.ontvanger": ["ZKN:stuurgegevens/StUF:ontvanger/StUF:organisatie (unless configured)"],
    "bericht.dagtekening": ["ZKN:object/ZKN:registratiedatum", "ZKN:stuurgegevens/StUF:tijdstipBericht (date part)"],
    "bericht.wet": ["ZKN:object/ZKN:isVan/ZKN:gerelateerde/ZKN:code (zaaktype per wet and soort)"],
    "bericht.soort": ["ZKN:object/ZKN:isVan/ZKN:gerelateerde/ZKN:code (zaaktype per wet and soort)"],
    "client.geboortedatum_gebruik": [INITIATOR + "BG:geboortedatum/@StUF:indOnvolledigeDatum (1/2/3 -> D/M/J)"],
    "beschikking.ingangsdatum": ["ZKN:object/ZKN:startdatum"],
    "beschikking.einddatum": ["ZKN:object/ZKN:einddatumGepland"],
    "product.N.ingangsdatum": ["ZKN:object/ZKN:startdatum (earliest, without a beschikking; not in 305/307)"],
    "product.N.einddatum": ["ZKN:object/ZKN:einddatumGepland (latest, without a beschikking, when every line "
                            "has one; not in 305/307)",
                            "ZKN:object/ZKN:einddatum (when every line is withdrawn; in a 307 the latest)"],
    "product.N.begindatum": ["ZKN:object/ZKN:startdatum (305/307: earliest, lines not StatusAanlevering 3)"],
    "bericht.identificatie_retour": ["ZKN:parameters/StUF:mutatiesoort W (a retour updates its heenbericht's zaak)"],
    "product.N.toewijzingstijd": ["ZKN:stuurgegevens/StUF:tijdstipBericht (time part, first line)"],
    "product.N.reden_intrekking": ["ZKN:parameters/StUF:mutatiesoort W (updateZaak)"],
    "product.N.reden_wijziging": ["ZKN:parameters/StUF:mutatiesoort W (updateZaak)"],
}


def extra_name(path: str) -> str | None:
    """The extraElement name of a canonical path (``clients.0.producten.1.omvang.volume`` ->
    ``product.2.omvang.volume``), or None for a client field ZAK holds natively."""
    parts = path.split(".")
    out: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            out += [LIST_ITEM.get(part, part), str(int(parts[i + 1]) + 1)]
            i += 2
            continue
        out.append(part)
        i += 1
    if out[0] != "clients":
        return "bericht." + ".".join(out)
    rest = out[2:]
    joined = ".".join(rest)
    if joined in CLIENT_NATIVE:
        return None
    if rest and rest[0] in ("beschikking", "product"):
        return joined
    return "client." + joined


def stuf_places(path: str) -> list[str]:
    """Where a canonical field ends up in a zakLk01: ZAK elements and/or its extraElement (see canonical-spec)."""
    places: list[str] = []
    parts = path.split(".")
    if parts[0] == "clients" and len(parts) > 2:
        places += NATIVE_PLACES.get(".".join(parts[2:]), [])
    name = extra_name(path)
    if name is not None:
        generic = ".".join("N" if p.isdigit() else p for p in name.split("."))
        places += DERIVED_PLACES.get(generic, [])
        places.append(f'StUF:extraElement naam="{name}"')
    return places


def render(bericht: Bericht, settings: RenderSettings) -> list[Rendered]:
    """All zakLk01 messages for one canonical message: one per client."""
    if not bericht.clients:
        raise RenderError("the message holds no client, so there is no zaak to report", "clients")
    return [render_client(bericht, i, settings) for i in range(len(bericht.clients))]
