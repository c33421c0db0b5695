"""Profile ``ggk``: a plain iWmo/iJw message inside a StUF-GGk ``envelopHeenbericht-ggk_Di01``.

Municipalities that route through the ISD-keten (GGk) get one envelope per source message: the
routing data in the stuurgegevens and the payload base64-encoded in ``parameters/bericht``, as the
GGk specification (Specificaties GGk0310 v2.1.04) prescribes. This module only builds the envelope
around payload bytes it is given; the payload itself is the canonical message written through a
built-in dialect mapping file (gateway.pipeline). Built as text and deterministic like ``zkn.py``;
docs/ggk-profile.md describes every element.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass

from gateway import __version__
from gateway.model import Bericht

from .settings import RenderSettings
from .zkn import Rendered, RenderError, esc, tijdstip

GGK_NS = "http://www.stufstandaarden.nl/sectormodel/ggk/0210"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
XMIME_NS = "http://www.w3.org/2005/05/xmlmime"
ONTVANGER_APPLICATIE = "GGk"  # fixed value of stuurgegevens.ontvanger.applicatie (spec 3.2)
CONTENT_TYPE = "application/xml"
CRLF = "\r\n"  # spec 2.2: lines of the envelope end in CR LF
UNSAFE_FILENAME = re.compile(r"[^0-9A-Za-z._-]")  # spec 2.7: bestandsnaam characters


@dataclass(frozen=True, slots=True)
class GgkRendered(Rendered):
    """A Di01 envelope plus the payload and its account: what the target version could not hold or rewrote."""

    dropped: tuple[str, ...] = ()
    normalised: tuple[str, ...] = ()
    payload: bytes = b""


def versienr(version: str) -> tuple[str, str]:
    """A version as GGk's four-digit pair: Overstap's own (applicatieVersie/-Subversie) or the payload's
    (functieVersie/-Subversie: iWmo 2.1 -> 0002, 0001)."""
    parts = [int(p) if p.isdigit() else 0 for p in version.split(".")[:2]] + [0, 0]
    return f"{parts[0] % 10000:04d}", f"{parts[1] % 10000:04d}"


APPLICATIE_VERSIE, APPLICATIE_SUBVERSIE = versienr(__version__)


def envelope_uuid(bericht: Bericht, functie: str, target: str) -> str:
    """A version-4-shaped UUID (spec 2.4) derived from the message, so the same input gives the same envelope."""
    key = "|".join(("ggk", bericht.wet, bericht.berichtcode, bericht.afzender, bericht.ontvanger,
                    bericht.identificatie, bericht.dagtekening.isoformat(), functie, target))
    return str(uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16], version=4))


def bestandsnaam(functie: str, identificatie: str) -> str:
    """``WMO301_<BerichtIdentificatie>.xml`` in the characters spec 2.7 allows."""
    return UNSAFE_FILENAME.sub("_", f"{functie}_{identificatie}.xml")[:255]


def _systeem(tag: str, organisatie: str, applicatie: str) -> str:
    if not 3 <= len(applicatie) <= 50:
        raise RenderError(f"StUF applicatie {applicatie!r} must be 3..50 characters", f"{tag}.applicatie")
    if not organisatie or len(organisatie) > 200:
        raise RenderError(f"StUF organisatie {organisatie!r} must be 1..200 characters", f"{tag}.organisatie")
    return (f"\t\t<StUF:{tag}>{CRLF}\t\t\t<StUF:organisatie>{esc(organisatie)}</StUF:organisatie>{CRLF}"
            f"\t\t\t<StUF:applicatie>{esc(applicatie)}</StUF:applicatie>{CRLF}\t\t</StUF:{tag}>{CRLF}")


def functie(wet: str, nummer: str) -> str:
    """The stuurgegevens functie of a payload: ``WMO301``, ``JW315`` (spec 2.6: the message, no version)."""
    return f"{'WMO' if wet == 'wmo' else 'JW'}{nummer}"


def envelope(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings) -> tuple[str, bytes]:
    """(referentienummer, Di01 bytes) around ``payload``, message family ``nummer`` (301) of version ``versie``."""
    name_of = functie(bericht.wet, nummer)
    ref = envelope_uuid(bericht, name_of, versie)
    name = bestandsnaam(name_of, bericht.identificatie)
    functie_versie, functie_subversie = versienr(versie)
    data = base64.b64encode(payload).decode("ascii")
    text = "".join((
        f'<?xml version="1.0" encoding="UTF-8"?>{CRLF}',
        f'<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="{GGK_NS}" xmlns:StUF="{STUF_NS}" xmlns:xmime="{XMIME_NS}">',
        f"{CRLF}\t<GGK:stuurgegevens>{CRLF}\t\t<StUF:berichtcode>Di01</StUF:berichtcode>{CRLF}",
        _systeem("zender", settings.zender.organisatie or bericht.afzender, settings.zender.applicatie),
        _systeem("ontvanger", settings.ontvanger.organisatie or bericht.ontvanger, ONTVANGER_APPLICATIE),
        f"\t\t<StUF:referentienummer>{ref}</StUF:referentienummer>{CRLF}",
        f"\t\t<StUF:tijdstipBericht>{tijdstip(bericht, bericht.clients[0] if bericht.clients else None)}"
        f"</StUF:tijdstipBericht>{CRLF}",
        f"\t\t<StUF:functie>{name_of}</StUF:functie>{CRLF}\t</GGK:stuurgegevens>{CRLF}",
        f"\t<GGK:parameters>{CRLF}",
        f"\t\t<GGK:applicatieVersie>{APPLICATIE_VERSIE}</GGK:applicatieVersie>{CRLF}",
        f"\t\t<GGK:applicatieSubversie>{APPLICATIE_SUBVERSIE}</GGK:applicatieSubversie>{CRLF}",
        f"\t\t<GGK:functieVersie>{functie_versie}</GGK:functieVersie>{CRLF}",
        f"\t\t<GGK:functieSubversie>{functie_subversie}</GGK:functieSubversie>{CRLF}",
        f'\t\t<GGK:bericht StUF:bestandsnaam="{esc(name)}" xmime:contentType="{CONTENT_TYPE}">{data}</GGK:bericht>',
        f"{CRLF}\t</GGK:parameters>{CRLF}</GGK:envelopHeenbericht-ggk_Di01>{CRLF}",
    ))
    return ref, text.encode("utf-8")


def render(bericht: Bericht, payload: bytes, nummer: str, versie: str, settings: RenderSettings, *,
           dropped: tuple[str, ...] = (), normalised: tuple[str, ...] = ()) -> list[GgkRendered]:
    """One Di01 envelope for the whole message around its ``payload`` (message family ``nummer``, ``versie``)."""
    ref, xml = envelope(bericht, payload, nummer, versie, settings)
    name = UNSAFE_FILENAME.sub("_", f"{bericht.afzender}-{functie(bericht.wet, nummer)}-{bericht.identificatie}-ggk")
    return [GgkRendered(ref, name, "", xml, "", dropped, normalised, payload)]
