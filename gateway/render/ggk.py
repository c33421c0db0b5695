"""Profile ``ggk``: the canonical message as plain iWmo inside a StUF-GGk ``envelopHeenbericht-ggk_Di01``.

Municipalities that route through the ISD-keten (GGk) get one message per source message: the
routing data in the envelope's stuurgegevens and the payload, normalised to one iWmo target
version (``ggk_versie``, default 2.1) by :mod:`gateway.render.iwmo`, base64-encoded in
``parameters/bericht`` as the GGk specification (Specificaties GGk0310 v2.1.04) prescribes.
Built as text and deterministic like ``zkn.py``; docs/ggk-profile.md describes every element.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from dataclasses import dataclass

from gateway import __version__
from gateway.model import Bericht

from . import iwmo
from .schemas import check
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
    """A Di01 envelope plus the payload's account: fields iWmo of the target version cannot hold."""

    dropped: tuple[str, ...] = ()
    normalised: tuple[str, ...] = ()
    payload: bytes = b""


def versienr(version: str) -> tuple[str, str]:
    """Overstap's own version as GGk applicatieVersie/applicatieSubversie (four digits each)."""
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


def envelope(bericht: Bericht, payload: iwmo.IwmoMessage, settings: RenderSettings) -> tuple[str, bytes]:
    """(referentienummer, Di01 bytes) around an already rendered payload."""
    ref = envelope_uuid(bericht, payload.functie, payload.target.versie)
    name = bestandsnaam(payload.functie, bericht.identificatie)
    data = base64.b64encode(payload.xml).decode("ascii")
    text = "".join((
        f'<?xml version="1.0" encoding="UTF-8"?>{CRLF}',
        f'<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="{GGK_NS}" xmlns:StUF="{STUF_NS}" xmlns:xmime="{XMIME_NS}">',
        f"{CRLF}\t<GGK:stuurgegevens>{CRLF}\t\t<StUF:berichtcode>Di01</StUF:berichtcode>{CRLF}",
        _systeem("zender", settings.zender.organisatie or bericht.afzender, settings.zender.applicatie),
        _systeem("ontvanger", settings.ontvanger.organisatie or bericht.ontvanger, ONTVANGER_APPLICATIE),
        f"\t\t<StUF:referentienummer>{ref}</StUF:referentienummer>{CRLF}",
        f"\t\t<StUF:tijdstipBericht>{tijdstip(bericht, bericht.clients[0] if bericht.clients else None)}"
        f"</StUF:tijdstipBericht>{CRLF}",
        f"\t\t<StUF:functie>{payload.functie}</StUF:functie>{CRLF}\t</GGK:stuurgegevens>{CRLF}",
        f"\t<GGK:parameters>{CRLF}",
        f"\t\t<GGK:applicatieVersie>{APPLICATIE_VERSIE}</GGK:applicatieVersie>{CRLF}",
        f"\t\t<GGK:applicatieSubversie>{APPLICATIE_SUBVERSIE}</GGK:applicatieSubversie>{CRLF}",
        f"\t\t<GGK:functieVersie>{payload.target.functie_versie}</GGK:functieVersie>{CRLF}",
        f"\t\t<GGK:functieSubversie>{payload.target.functie_subversie}</GGK:functieSubversie>{CRLF}",
        f'\t\t<GGK:bericht StUF:bestandsnaam="{esc(name)}" xmime:contentType="{CONTENT_TYPE}">{data}</GGK:bericht>',
        f"{CRLF}\t</GGK:parameters>{CRLF}</GGK:envelopHeenbericht-ggk_Di01>{CRLF}",
    ))
    return ref, text.encode("utf-8")


def render(bericht: Bericht, settings: RenderSettings, *, validate: bool = False) -> list[GgkRendered]:
    """One Di01 envelope for the whole message; ``validate`` also checks the payload against its iWmo XSD."""
    payload = iwmo.render(bericht, settings.ggk_versie)
    if validate:
        check(payload.xml, payload.schema)
    ref, xml = envelope(bericht, payload, settings)
    name = UNSAFE_FILENAME.sub("_", f"{bericht.afzender}-{payload.functie}-{bericht.identificatie}-ggk")
    return [GgkRendered(ref, name, "", xml, "", payload.dropped, payload.normalised, payload.xml)]
