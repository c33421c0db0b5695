"""Render settings: who sends and receives, and the zaaktype catalogue.

Defaults come from here, a deployment may set its own, and each mapping file may override them
for its vendor (``render:`` in the mapping file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gateway.zaken.catalogue import DEMO_ZAAKTYPEN, Zaaktype

KIND_OF_SOORT = {"toewijzing": "toewijzing", "verzoek": "aanvraag", "verzoek-wijziging": "aanvraag",
                 "verzoek-antwoord": "aanvraag", "aanvraag": "aanvraag"}
"""Mapping-file ``zaaktype`` keys (v1 used message kinds) -> zaak kind of the v2 catalogue."""

NEWEST = "newest"
DEFAULT_GGK_VERSIE: dict[str, str] = {"wmo": NEWEST, "jw": NEWEST}
"""Payload version of profile ggk when ``ggk_versie`` is not set: the newest release Overstap has a built-in
dialect for (iWmo 3.2, iJw 3.2). A 2.x message goes in the newest 2.x release (2.1): a 3.x header requires the
XsdVersie of the XSDs the sender used, which a 2.x message does not carry (docs/ggk-profile.md 3.2)."""


@dataclass(frozen=True, slots=True)
class Systeem:
    """A StUF Systeem of the stuurgegevens. ``organisatie`` None: the gemeentecode of the message (demo)."""

    organisatie: str | None = None
    applicatie: str = "OVERSTAP"
    administratie: str | None = None
    """StUF administratie; profile ggk fills zender.administratie (``{gemeente}``: the gemeentecode)."""


GEZET_DOOR_VERPLICHT = ("every status names who set it, a medewerker or organisatorische eenheid identificatie "
                        "(max 24 characters) the zaaksysteem knows: ZDS 1.2 §4.1.3.2 marks 'object . heeft . "
                        "isGezetDoor . gerelateerde . <medewerker, organisatorischeEenheid> . identificatie' v "
                        "(verplicht), so it cannot be turned off with null or left empty")
"""Why ``render.gezet_door`` takes no null: the configuration error says it in these words."""


@dataclass(frozen=True, slots=True)
class Eenheid:
    """The organisatorische eenheid (OEH) of the gemeente that sets the statuses Overstap reports: ZDS 1.2 4.1.3
    requires ``isGezetDoor`` with a medewerker or OEH identificatie the zaaksysteem knows (max 24, naam max 50)."""

    identificatie: str = "OVERSTAP"
    naam: str | None = "Berichtenverkeer Wmo/Jeugdwet"


@dataclass(frozen=True, slots=True)
class RenderSettings:
    zender: Systeem = Systeem(applicatie="OVERSTAP")
    ontvanger: Systeem = Systeem(applicatie="ZAAKSYSTEEM")
    zaaktypen: dict[str, Zaaktype] = field(default_factory=lambda: dict(DEMO_ZAAKTYPEN))
    """The zaaktype catalogue: ``wet.kind`` or ``gemeente:wet.kind`` -> Zaaktype (gateway/zaken/catalogue.py)."""
    omschrijving: str | None = None
    """Zaak omschrijving template (``{Wet}``, ``{wet}``, ``{kind}``, ``{product}``, ``{client}``, ``{gemeente}``,
    ``{aanbieder}``, ``{beschikking}``); None: ``{Wet} {kind} {product}``."""
    gezet_door: Eenheid = Eenheid()
    """Who sets a status (``isGezetDoor``), always sent: ZDS 1.2 §4.1.3.2 marks its identificatie verplicht. The demo
    default must be replaced by an OEH of the receiver's own organisation (``render.gezet_door: {identificatie: ...,
    naam: ...}``)."""
    ggk_versie: str | None = None
    """Profile ggk payload version: ``2.1``, ``3.2`` (``iwmo-2.1`` too), ``source`` or ``newest``; None: the
    default (``newest``)."""

    def ggk_target(self, wet: str, source: str) -> str:
        """The payload version for a ``wet`` message that came in as version ``source``; ``newest`` is left for
        the caller, which knows the built-in dialects."""
        value = (self.ggk_versie or DEFAULT_GGK_VERSIE[wet]).strip().lower()
        value = value.removeprefix("iwmo").removeprefix("ijw").lstrip("-_ ")
        return source if value == "source" else value

    def merged(self, overrides: dict[str, Any] | None) -> RenderSettings:
        """These settings with a mapping file's ``render:`` block applied on top."""
        if not overrides:
            return self
        out = self
        for key in ("zender", "ontvanger"):
            if key in overrides:
                value = overrides[key] or {}
                current: Systeem = getattr(out, key)
                out = replace(out, **{key: Systeem(
                    organisatie=str(value["organisatie"]) if value.get("organisatie") is not None
                    else current.organisatie,
                    applicatie=str(value.get("applicatie", current.applicatie)),
                    administratie=str(value["administratie"]) if value.get("administratie") is not None
                    else current.administratie,
                )})
        if "zaaktype" in overrides:  # {wet.kind: CODE}: the catalogue entry with the vendor's code
            table = dict(out.zaaktypen)
            for key, code in overrides["zaaktype"].items():
                wet, _, soort = str(key).rpartition(".")
                kind = KIND_OF_SOORT.get(soort)
                for w in ([wet] if wet else ["wmo", "jw"]):
                    base = table.get(f"{w}.{kind}")
                    if kind is not None and base is not None:
                        table[f"{w}.{kind}"] = replace(base, code=str(code))
            out = replace(out, zaaktypen=table)
        if "omschrijving" in overrides:
            out = replace(out, omschrijving=str(overrides["omschrijving"]))
        if "gezet_door" in overrides:
            value = overrides["gezet_door"]
            if not isinstance(value, dict) or not value.get("identificatie"):  # the serve config says why first
                raise ValueError(f"render.gezet_door: {GEZET_DOOR_VERPLICHT}")
            out = replace(out, gezet_door=Eenheid(
                str(value["identificatie"])[:24], str(value["naam"])[:50] if value.get("naam") else None))
        if "ggk_versie" in overrides:
            out = replace(out, ggk_versie=str(overrides["ggk_versie"]))
        return out
