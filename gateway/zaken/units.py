"""What zaken a message is about: one unit per toegewezen or aangevraagd product line, with its chain keys.

The zaak unit is one toewijzing (one toegewezen product line) in every iWmo/iJw version; a requested
product (315) or a request to change toewijzingen (317) is an aanvraagzaak. A unit's chain keys are
how later messages find the zaak again: the ToewijzingNummer where the version has one, and for 2.x
also the product key a 2.0 intrekking, start or stop can rebuild (docs/canonical-spec.md 2).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, fields
from datetime import date, time

from gateway.model import Bericht, Client, Product

SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class Unit:
    """One zaak a message is about: which client and line, what it does, and the keys that name it."""

    kind: str  # "toewijzing" | "aanvraag"
    event: str  # "toewijzing" (301), "start" (305), "stop" (307), "verzoek" (315), "verzoek-wijziging" (317),
    # "verzoek-antwoord" (319: client_index and line_index -1, keys are where it looks, never bound)
    client_index: int
    line_index: int
    gemeente: str
    aanbieder: str
    keys: tuple[str, ...]
    """Chain keys, most specific first; all are bound to the zaak."""
    links: tuple[str, ...] = field(default=())
    """Keys of other zaken this one relates to (heeftBetrekkingOpAndere)."""

    @property
    def primary(self) -> str:
        return self.keys[0]

    def __reduce__(self) -> tuple[type[Unit], tuple[object, ...]]:
        """Pickled as its constructor's arguments: a batch worker hands every unit to the parent, where the slots
        dataclass's own state (``fields()`` and a setattr per field) took ~4.8 µs a unit to load, this ~3.5."""
        return (type(self), (self.kind, self.event, self.client_index, self.line_index, self.gemeente, self.aanbieder,
                             self.keys, self.links))


_FIELDS = ("kind", "event", "client_index", "line_index", "gemeente", "aanbieder", "keys", "links")
if tuple(f.name for f in fields(Unit)) != _FIELDS:  # unit_of sets these by name: a new field must be set there too
    raise ImportError(f"Unit's fields changed ({[f.name for f in fields(Unit)]}): update units.unit_of")
_new = object.__new__
_KIND, _EVENT, _CLIENT, _LINE, _GEMEENTE, _AANBIEDER, _KEYS, _LINKS = (Unit.__dict__[n].__set__ for n in _FIELDS)


def unit_of(kind: str, event: str, client_index: int, line_index: int, gemeente: str, aanbieder: str,
            keys: tuple[str, ...], links: tuple[str, ...]) -> Unit:
    """``Unit(kind, ...)`` without the frozen dataclass's ``__init__``, which sets each field through
    ``object.__setattr__`` (~13 k instructions a unit, this ~8 k): :func:`units` makes every message's units
    with it, and a batch parent rebuilds every unit its workers send (``render.zkn.prepared_from_plain``). The
    same values in the same slots: equal, and hashed alike."""
    unit = _new(Unit)
    _KIND(unit, kind)
    _EVENT(unit, event)
    _CLIENT(unit, client_index)
    _LINE(unit, line_index)
    _GEMEENTE(unit, gemeente)
    _AANBIEDER(unit, aanbieder)
    _KEYS(unit, keys)
    _LINKS(unit, links)
    return unit


def gemeente_and_aanbieder(bericht: Bericht) -> tuple[str, str]:
    """301/302 and 319/320 travel gemeente -> aanbieder; all other families the other way (also in retours)."""
    if bericht.soort.startswith(("toewijzing", "verzoek-antwoord")):
        return bericht.afzender, bericht.ontvanger
    return bericht.ontvanger, bericht.afzender


def heen_soort(soort: str) -> str:
    """The message kind a retour answers (``toewijzing-retour`` -> ``toewijzing``); others are their own."""
    return soort.removesuffix("-retour")


DAYS: dict[date, str] = {}
""":func:`day`'s texts by date: a message's dozen dates are mostly ones seen before (its dagtekening, the
toewijzing's dates). Emptied when it reaches :data:`DAYS_MAX`, so the dates of the day stay in it."""
DAYS_MAX = 4096


def day(value: date) -> str:
    """``strftime("%Y%m%d")`` at a tenth of its cost once remembered (a dozen dates a message); the C
    library's own text for years before 1000, which it does not pad."""
    text = DAYS.get(value)
    if text is None:
        text = value.strftime("%Y%m%d") if value.year < 1000 else f"{value.year}{value.month:02d}{value.day:02d}"
        if len(DAYS) >= DAYS_MAX:
            DAYS.clear()
        DAYS[value] = text
    return text


def clock(value: time) -> str:
    """``strftime("%H%M%S")`` without the C library's call: the ``HH:MM:SS`` of ``isoformat`` without its colons
    (~0.3 µs against ~0.55 for three formatted fields; an offset or microseconds after it are cut off)."""
    return value.isoformat(timespec="seconds")[:8].replace(":", "")


def _d(value: date | None) -> str:
    return day(value) if value is not None else "-"


TOEWIJZING, AANVRAAG = "toewijzing:", "aanvraag:"


def key_part(value: str) -> str:
    """A sender's value (a ReferentieAanbieder: any string of 1-36) as one part of a ``:``-joined chain key, its
    ``%`` and ``:`` written ``%25`` and ``%3A``. Why: keys are told apart by their parts, and a ReferentieAanbieder
    ``VZ:1`` made ``aanvraag:{gemeente}:VZ:1`` look like a 317 line's key (``VZ`` asking to change toewijzing
    ``1``), so a new request with it was applied to the earlier request the shared 2.x aanvraag-product key found."""
    return value.replace("%", "%25").replace(":", "%3A") if ":" in value or "%" in value else value


def _named_by_number(key: str) -> str | None:
    """The kind of ``key`` when it names its zaak by the chain's own number, else None: ``toewijzing:{gemeente}:
    {ToewijzingNummer}``, or ``aanvraag:{gemeente}:{ReferentieAanbieder}`` of a 315 line (a 2.0 request key has
    five parts, a 317 line's four; Jeugdwet keys alike)."""
    bare = key.removeprefix(JEUGD)
    if bare.startswith(TOEWIJZING):
        return TOEWIJZING
    return AANVRAAG if bare.startswith(AANVRAAG) and bare.count(":") == 2 else None


def another_zaak(keys: tuple[str, ...] | list[str], held: list[str]) -> bool:
    """Whether a zaak bound to the chain keys ``held`` is another toewijzing or aanvraag than the unit whose keys are
    ``keys``: the unit names its ToewijzingNummer or ReferentieAanbieder (its first key), the zaak holds a different
    one and not this one, so it was found by an alias the two share.

    Why: one zaak per toewijzing and per request (docs/canonical-spec.md 1). The 2.x product key (beschikking,
    aanbieder, product, ingangsdatum) is shared by a toewijzing and the one that replaces it from the same day with
    a new ToewijzingNummer (a volume change is sent as a new toewijzing), and the 2.x aanvraag-product key by two
    315s for one product: found by that alias alone, the new toewijzing was applied to the old one's zaak, and a new
    request (a new ReferentieAanbieder) to the old request's zaak, refused once that was answered."""
    kind = _named_by_number(keys[0]) if keys else None
    return kind is not None and keys[0] not in held and any(_named_by_number(k) == kind for k in held)


def beschikkingnummer(client: Client, product: Product) -> str | None:
    return product.beschikkingnummer or (client.beschikking.nummer if client.beschikking else None)


def toewijzing_keys(gemeente: str, aanbieder: str, client: Client, product: Product) -> list[str]:
    """``toewijzing:{gemeente}:{nummer}`` when known, and for 2.x the product key
    ``product:{gemeente}:{beschikkingnummer}:{aanbieder}:{categorie}:{code or -}:{ingangsdatum}``."""
    keys: list[str] = []
    if product.toewijzingnummer:
        keys.append(f"toewijzing:{gemeente}:{product.toewijzingnummer}")
    nummer = beschikkingnummer(client, product)
    if nummer and product.categorie:
        keys.append(f"product:{gemeente}:{nummer}:{product.aanbieder or aanbieder}:{product.categorie}:"
                    f"{product.code or '-'}:{_d(product.ingangsdatum)}")
    return keys


def aanvraag_product_key(gemeente: str, aanbieder: str, client: Client, product: Product) -> str | None:
    """A 2.0 315 line and the 301 line that answers it share beschikking, aanbieder and product."""
    nummer = beschikkingnummer(client, product)
    if not nummer or not product.categorie:
        return None
    return f"aanvraag-product:{gemeente}:{nummer}:{aanbieder}:{product.categorie}:{product.code or '-'}"


NIEUW = "aanvraag-nieuw:"
"""Kind of the key a 317 line asking for a new product is found by from the 301 that grants it: that 301 names
the 317's ReferentieAanbieder and the product, and a ToewijzingNummer the 317 could not know."""


def nieuw_key(gemeente: str, referentie: str, product: Product) -> str:
    """``aanvraag-nieuw:{gemeente}:{ReferentieAanbieder}:{categorie or -}:{code or -}``, ``referentie`` as
    :func:`key_part` writes it; a budget (no Product, CD079) is ``-:-``: a generieke toewijzing answers the line
    that asked for a budget, as a toewijzing of a product the line that asked for that product."""
    return f"{NIEUW}{gemeente}:{referentie}:{product.categorie or '-'}:{product.code or '-'}"


VERZOEK = "verzoek:"
"""Kind of the keys a 319 finds a 317's aanvraagzaken by: the 319 names only the 317's ReferentieAanbieder, and a
317 line's own key holds its ToewijzingNummer or its place, which the 319 cannot know."""


def verzoek_key(gemeente: str, referentie: str, n: int) -> str:
    """``verzoek:{gemeente}:{ReferentieAanbieder}:{n}``: the ``n``-th (from 0) aanvraagzaak asked under that
    ReferentieAanbieder (as :func:`key_part` writes it), in the order they were first rendered
    (gateway/render/zkn.py ``_bind_verzoek``)."""
    return f"{VERZOEK}{gemeente}:{referentie}:{n}"


def is_verzoek_key(key: str) -> bool:
    """Whether ``key`` is a ``verzoek:`` key (:func:`verzoek_key`), Wmo or Jeugdwet."""
    return key.startswith((VERZOEK, JEUGD + VERZOEK))


def bound_only(key: str) -> bool:
    """A key a 317 line is bound to but never found by: the product key is the 301's way to the line, the
    ``verzoek:`` key the 319's. A corrected 317 may hold other lines in other places, and neither key tells
    one of its lines from another (the product key: two lines of one product; ``verzoek:``: a line's place)."""
    return key.startswith((NIEUW, VERZOEK, JEUGD + NIEUW, JEUGD + VERZOEK))


def answers_new_only(key: str) -> bool:
    """A link a toewijzing follows only when it creates its zaak: a 301 that changes a toewijzing answers the 317
    line that named that toewijzing, never a request for a new product of the same kind."""
    return key.startswith(NIEUW) or key.startswith(JEUGD + NIEUW)


def units(bericht: Bericht) -> list[Unit]:
    """The zaken a (non-retour) message is about, in document order."""
    gemeente, aanbieder = gemeente_and_aanbieder(bericht)
    out: list[Unit] = []
    if bericht.soort == "verzoek-antwoord" and bericht.antwoord is not None:  # 319: the verzoek it answers
        ref = key_part(bericht.antwoord.referentie_aanbieder)
        out.append(unit_of("aanvraag", bericht.soort, -1, -1, gemeente, aanbieder,
                           (f"aanvraag:{gemeente}:{ref}", f"{VERZOEK}{gemeente}:{ref}"), ()))
    for ci, client in enumerate(bericht.clients):
        if bericht.soort == "verzoek-wijziging":  # 317: one aanvraagzaak per line that asks for something
            ref = key_part(client.referentie_aanbieder) if client.referentie_aanbieder else \
                f"{aanbieder}:{bericht.identificatie}:{ci}"  # none given: the message's place, in parts
            for li, product in enumerate(client.producten):
                if product.verzoek_groep == "ongewijzigd":
                    continue
                target = product.toewijzingnummer
                own = f"aanvraag:{gemeente}:{ref}:{target or f'nieuw{li + 1}'}"
                links = (f"toewijzing:{gemeente}:{target}",) if target else ()
                keys = (own,) if target else (own, nieuw_key(gemeente, ref, product))  # a budget line too
                keys += (verzoek_key(gemeente, ref, 0),)  # how a 319 finds every line from the reference alone: the
                # render binds the line's zaak to the first free place (:0, :1, ...), not to the line's own place
                out.append(unit_of("aanvraag", bericht.soort, ci, li, gemeente, aanbieder, keys, links))
            continue
        for li, product in enumerate(client.producten):
            line_gemeente = product.gemeentecode or gemeente
            if bericht.soort == "verzoek":
                keys = []
                if product.referentie_aanbieder:
                    keys.append(f"aanvraag:{gemeente}:{key_part(product.referentie_aanbieder)}")
                else:  # 2.0: no ReferentieAanbieder; the request message and line name it
                    keys.append(f"aanvraag:{gemeente}:{aanbieder}:{bericht.identificatie}:{li}")
                alias = aanvraag_product_key(gemeente, aanbieder, client, product)
                out.append(unit_of("aanvraag", "verzoek", ci, li, gemeente, aanbieder,
                                   tuple(keys + ([alias] if alias else [])), ()))
                continue
            keys = toewijzing_keys(line_gemeente, aanbieder, client, product)
            if not keys:
                keys = [f"bericht:{gemeente}:{bericht.afzender}:{bericht.identificatie}:{ci}:{li}"]
            links: tuple[str, ...] = ()
            if bericht.soort == "toewijzing":
                found = []
                if product.referentie_aanbieder:
                    ref = key_part(product.referentie_aanbieder)
                    found.append(f"aanvraag:{gemeente}:{ref}")
                    if product.toewijzingnummer:  # 3.x: the 317 line that asked to change this toewijzing
                        found.append(f"aanvraag:{gemeente}:{ref}:{product.toewijzingnummer}")
                    if not product.gewijzigd:  # 3.x: the 317 line that asked for this product (or budget) anew
                        found.append(nieuw_key(gemeente, ref, product))
                        # (a line with a RedenWijziging or RedenIntrekking changes a toewijzing, even one this
                        # ledger never saw: that never grants a new product)
                alias = aanvraag_product_key(gemeente, product.aanbieder or aanbieder, client, product)
                if alias:
                    found.append(alias)
                links = tuple(found)
            out.append(unit_of("toewijzing", bericht.soort, ci, li, line_gemeente, product.aanbieder or aanbieder,
                               tuple(keys), links))
    if bericht.wet == "jw":  # a gemeente numbers its Wmo and Jeugdwet toewijzingen apart: keys never meet
        out = [unit_of(u.kind, u.event, u.client_index, u.line_index, u.gemeente, u.aanbieder,
                       tuple(map(_jeugd, u.keys)), tuple(map(_jeugd, u.links))) for u in out]
    return out


JEUGD = "jw-"
"""Prefix of the kind of every Jeugdwet chain key (``jw-toewijzing:0384:100002``)."""


def _jeugd(key: str) -> str:
    return JEUGD + key


_EMPTY_SHA256 = hashlib.sha256()


def _sha256(data: bytes) -> hashlib._Hash:
    """``hashlib.sha256(data)`` from a copy of an empty one: with OpenSSL 3 each new hash object looks the algorithm
    up in the provider store (EVP_MD_fetch), ~5 µs a zaak inside the pipeline where that memory is cold."""
    found = _EMPTY_SHA256.copy()
    found.update(data)
    return found


def zaak_identificatie(unit: Unit) -> str:
    """Gemeentecode-prefixed and deterministic from the primary chain key (RGBZ: gemeentecode + own id).

    ``0384T100001`` for a ToewijzingNummer, ``0384A<referentie>`` for an aanvraag with a short, safe
    ReferentieAanbieder, otherwise ``0384B<beschikking>-<hash>`` / ``0384A-<hash>`` (max 40 characters).
    """
    key = unit.primary
    kind, gemeente, rest = key.split(":", 2)
    wet = "J" if kind.startswith(JEUGD) else ""  # Jeugdwet zaken never share an identificatie with Wmo ones
    kind = kind.removeprefix(JEUGD)
    if kind == "toewijzing":
        return f"{gemeente}{wet}T{rest}"
    if kind == "aanvraag" and SAFE.match(rest) and len(rest) <= 34:
        return f"{gemeente}{wet}A{rest}"
    digest = _sha256(key.encode()).hexdigest()[:10].upper()  # only where the id needs it
    if kind == "product":
        return f"{gemeente}{wet}B{rest.split(':', 1)[0][:18]}-{digest}"
    return f"{gemeente}{wet}{'A' if kind.startswith('aanvraag') else 'Z'}-{digest}"
