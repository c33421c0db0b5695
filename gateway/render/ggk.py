"""Profile ``ggk``: a plain iWmo/iJw message inside a StUF-GGk envelope, as the ISD-keten exchanges it.

Municipalities that route through the ISD-keten (GGk) get one envelope per source message: the
routing data in the stuurgegevens and the payload base64-encoded in ``parameters/bericht``, as the
GGk specification (Specificaties GGk0310 v2.1.04) prescribes. A heenbericht (301, 305, 307, 315, 317)
travels in an ``envelopHeenbericht-ggk_Di01``; its retour (302, 306, 308, 316, 318) in an
``envelopRetourbericht-ggk_Du01`` that points at that Di01 (spec 2.2, 3.3). This module only builds the
envelope from values it is given (payload bytes, UUIDs, tijdstip); the pipeline draws those from the
zaak ledger. docs/ggk-profile.md describes every element.
"""

from __future__ import annotations

import functools
from binascii import b2a_base64
from dataclasses import dataclass

from gateway import __version__
from gateway.model import Bericht
from gateway.model.codes import BERICHTNUMMERS
from gateway.profiles import DI01, DU01, GGK_NS, STUF_NS
from gateway.zaken.units import gemeente_and_aanbieder, heen_soort

from . import ggk_guard
from .names import file_name
from .settings import RenderSettings
from .zkn import Rendered, RenderError, esc

XMIME_NS = "http://www.w3.org/2005/05/xmlmime"
ONTVANGER_APPLICATIE = "GGk"  # fixed value of stuurgegevens.ontvanger.applicatie (spec 3.2, 3.3)
CONTENT_TYPE = "application/xml"
CRLF = "\r\n"  # spec 2.2: lines of the envelope end in CR LF
DEFAULT_ADMINISTRATIE = "gemeente {gemeente}"
"""zender.administratie when ``render.zender.administratie`` is not set: the gemeente the message concerns."""


@dataclass(frozen=True, slots=True)
class GgkRendered(Rendered):
    """A Di01/Du01 envelope plus the payload and its account: what the target version could not hold or
    rewrote."""

    dropped: tuple[str, ...] = ()
    normalised: tuple[str, ...] = ()
    payload: bytes = b""
    cross_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Stamp:
    """What the ledger decides for one envelope: its own UUID, its tijdstipBericht and (Du01) the Di01's UUID."""

    referentienummer: str
    tijdstip: str
    cross_ref: str | None = None


@functools.lru_cache(maxsize=256)
def versienr(version: str) -> tuple[str, str]:
    """A version as GGk's four-digit pair: Overstap's own (applicatieVersie/-Subversie) or the payload's
    (functieVersie/-Subversie: iWmo 2.1 -> 0002, 0001)."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]] + [0, 0]
    return f"{parts[0] % 10000:04d}", f"{parts[1] % 10000:04d}"


APPLICATIE_VERSIE, APPLICATIE_SUBVERSIE = versienr(__version__)


def is_retour(bericht: Bericht) -> bool:
    """302, 306, 308, 316, 318: answers that travel in a Du01."""
    return bericht.soort.endswith("-retour")


def heen_key(bericht: Bericht) -> str:
    """The identity of the heenbericht a message is or answers, as a retour can rebuild it: a retour echoes
    its heenbericht's Afzender, Ontvanger and BerichtIdentificatie. ``wmo:301:0384:98025566:<id>:<date>``."""
    gemeente, aanbieder = gemeente_and_aanbieder(bericht)
    return ":".join((bericht.wet, BERICHTNUMMERS[heen_soort(bericht.soort)], gemeente, aanbieder,
                     bericht.identificatie, bericht.dagtekening.isoformat()))


def describe_heen(bericht: Bericht) -> str:
    """The heenbericht of a retour in words, for errors (identifiers only, no personal data)."""
    nummer = BERICHTNUMMERS[heen_soort(bericht.soort)]
    return (f"{functie(bericht.wet, nummer)} {bericht.identificatie} of {bericht.dagtekening.isoformat()} "
            f"from {bericht.afzender} to {bericht.ontvanger}")


def parties(bericht: Bericht, settings: RenderSettings) -> tuple[str, str]:
    """(zender, ontvanger) organisatie of the envelope. A heenbericht goes from its Afzender to its Ontvanger;
    a retour the other way (its header echoes the heenbericht's, spec 3.3: zender is who sends the retour).
    ``render.zender/ontvanger.organisatie`` override both."""
    afzender, ontvanger = (bericht.ontvanger, bericht.afzender) if is_retour(bericht) else (
        bericht.afzender, bericht.ontvanger)
    return settings.zender.organisatie or afzender, settings.ontvanger.organisatie or ontvanger


def administratie(bericht: Bericht, settings: RenderSettings) -> str:
    """stuurgegevens.zender.administratie: "naam samenwerkingsverband, anders naam gemeente" (spec 3.2, 3.3),
    from ``render.zender.administratie`` (``{gemeente}`` is the gemeentecode the message concerns)."""
    gemeente, _ = gemeente_and_aanbieder(bericht)
    value = (settings.zender.administratie or DEFAULT_ADMINISTRATIE).replace("{gemeente}", gemeente)
    if not 1 <= len(value) <= 50:
        raise RenderError(f"StUF administratie {value!r} must be 1..50 characters", "zender.administratie")
    return value


def _systeem(tag: str, organisatie: str, applicatie: str, admin: str | None = None) -> str:
    if not 3 <= len(applicatie) <= 50:
        raise RenderError(f"StUF applicatie {applicatie!r} must be 3..50 characters", f"{tag}.applicatie")
    if not organisatie or len(organisatie) > 200:
        raise RenderError(f"StUF organisatie {organisatie!r} must be 1..200 characters", f"{tag}.organisatie")
    extra = f"\t\t\t<StUF:administratie>{esc(admin)}</StUF:administratie>{CRLF}" if admin else ""
    return (f"\t\t<StUF:{tag}>{CRLF}\t\t\t<StUF:organisatie>{esc(organisatie)}</StUF:organisatie>{CRLF}"
            f"\t\t\t<StUF:applicatie>{esc(applicatie)}</StUF:applicatie>{CRLF}{extra}\t\t</StUF:{tag}>{CRLF}")


def functie(wet: str, nummer: str) -> str:
    """The stuurgegevens functie of a payload: ``WMO301``, ``JW315`` (spec 2.6: the message, no version)."""
    return f"{'WMO' if wet == 'wmo' else 'JW'}{nummer}"


def envelope(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings,
             stamp: Stamp, guard: bool = False) -> bytes:
    """The Di01 (heenbericht) or Du01 (retour, ``stamp.cross_ref`` set) around ``payload``, message family
    ``nummer`` (301) of version ``versie``. The payload is XML, so ``bericht`` has no bestandsnaam (spec 2.7).
    ``guard``: each value checked against its XSD type (gateway.render.ggk_guard) as it is written."""
    return _envelope(bericht, payload, nummer, versie, settings, stamp, guard, is_retour(bericht),
                     parties(bericht, settings), functie(bericht.wet, nummer))


def _envelope(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings, stamp: Stamp,
              guard: bool, retour: bool, sides: tuple[str, str], function: str) -> bytes:
    """:func:`envelope` with the facts :func:`render` needs as well worked out once by the caller."""
    root = DU01 if retour else DI01
    if retour and not stamp.cross_ref:
        raise RenderError(f"a Du01 needs the UUID of the Di01 of heenbericht {describe_heen(bericht)}",
                          "stuurgegevens.crossRefnummer")
    zender, ontvanger = sides
    functie_versie, functie_subversie = versienr(versie)
    admin = administratie(bericht, settings)
    cross = f"\t\t<StUF:crossRefnummer>{stamp.cross_ref}</StUF:crossRefnummer>{CRLF}" if retour else ""
    text = (
        f'<?xml version="1.0" encoding="UTF-8"?>{CRLF}'
        f'<GGK:{root} xmlns:GGK="{GGK_NS}" xmlns:StUF="{STUF_NS}" xmlns:xmime="{XMIME_NS}">'
        f"{CRLF}\t<GGK:stuurgegevens>{CRLF}\t\t<StUF:berichtcode>{root[-4:]}</StUF:berichtcode>{CRLF}"
        f"{_systeem('zender', zender, settings.zender.applicatie, admin)}"
        f"{_systeem('ontvanger', ontvanger, ONTVANGER_APPLICATIE)}"
        f"\t\t<StUF:referentienummer>{stamp.referentienummer}</StUF:referentienummer>{CRLF}"
        f"\t\t<StUF:tijdstipBericht>{stamp.tijdstip}</StUF:tijdstipBericht>{CRLF}"
        f"{cross}"
        f"\t\t<StUF:functie>{function}</StUF:functie>{CRLF}\t</GGK:stuurgegevens>{CRLF}"
        f"\t<GGK:parameters>{CRLF}"
        f"\t\t<GGK:applicatieVersie>{APPLICATIE_VERSIE}</GGK:applicatieVersie>{CRLF}"
        f"\t\t<GGK:applicatieSubversie>{APPLICATIE_SUBVERSIE}</GGK:applicatieSubversie>{CRLF}"
        f"\t\t<GGK:functieVersie>{functie_versie}</GGK:functieVersie>{CRLF}"
        f"\t\t<GGK:functieSubversie>{functie_subversie}</GGK:functieSubversie>{CRLF}"
        f'\t\t<GGK:bericht xmime:contentType="{CONTENT_TYPE}">{b2a_base64(payload, newline=False).decode("ascii")}'
        f"</GGK:bericht>{CRLF}\t</GGK:parameters>{CRLF}</GGK:{root}>{CRLF}"
    )
    if guard:  # after the writer's own refusals (RenderError), which come first as they always did
        ggk_guard.check(root, (zender, settings.zender.applicatie, admin, ontvanger, ONTVANGER_APPLICATIE),
                        (stamp.referentienummer, stamp.tijdstip, function, APPLICATIE_VERSIE,
                         APPLICATIE_SUBVERSIE, functie_versie, functie_subversie),
                        stamp.cross_ref if retour else None)
    return text.encode("utf-8")


def render(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings, stamp: Stamp, *,
           dropped: tuple[str, ...] = (), normalised: tuple[str, ...] = (), guard: bool = False) -> list[GgkRendered]:
    """One envelope for the whole message around its ``payload`` (message family ``nummer``, ``versie``);
    ``guard``: its values checked as they are written (see :func:`envelope`)."""
    name, xml = written(bericht, payload, nummer, versie, settings, stamp, guard)
    return [GgkRendered(stamp.referentienummer, name, "", xml, "", dropped=dropped, normalised=normalised,
                        payload=payload, cross_ref=stamp.cross_ref)]


def written(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings, stamp: Stamp,
            guard: bool = False) -> tuple[str, bytes]:
    """:func:`render`'s file-name stem and envelope bytes: the facts both need (retour or not, the parties, the
    functie) worked out once."""
    retour = is_retour(bericht)
    sides = parties(bericht, settings)
    function = functie(bericht.wet, nummer)
    xml = _envelope(bericht, payload, nummer, versie, settings, stamp, guard, retour, sides, function)
    ident = (bericht.identificatie_retour if retour else None) or bericht.identificatie
    return file_name(f"{sides[0]}-{function}-{ident}-ggk"), xml
