"""Render settings: who sends and receives, and the zaaktype catalogue.

Defaults come from here, a deployment may set its own, and each mapping file may override them
for its vendor (``render:`` in the mapping file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from gateway.zaken.catalogue import DEMO_ZAAKTYPEN, Zaaktype

KIND_OF_SOORT = {"toewijzing": "toewijzing", "verzoek": "aanvraag", "verzoek-wijziging": "aanvraag",
                 "aanvraag": "aanvraag"}
"""Mapping-file ``zaaktype`` keys (v1 used message kinds) -> zaak kind of the v2 catalogue."""

DEFAULT_GGK_VERSIE: dict[str, str] = {"wmo": "2.1", "jw": "source"}
"""Payload version of profile ggk when ``ggk_versie`` is not set. iWmo: 2.1, the version the official XSDs
validate. iJw: the version the message came in (``source``), because no iJw XSD validates any target and an
iJw 2.1 message cannot become 3.2 without XsdVersie values Overstap cannot know (docs/ggk-profile.md 3)."""


@dataclass(frozen=True, slots=True)
class Systeem:
    """A StUF Systeem of the stuurgegevens. ``organisatie`` None: the gemeentecode of the message (demo)."""

    organisatie: str | None = None
    applicatie: str = "OVERSTAP"
    administratie: str | None = None


@dataclass(frozen=True, slots=True)
class RenderSettings:
    zender: Systeem = Systeem(applicatie="OVERSTAP")
    ontvanger: Systeem = Systeem(applicatie="ZAAKSYSTEEM")
    zaaktypen: dict[str, Zaaktype] = field(default_factory=lambda: dict(DEMO_ZAAKTYPEN))
    """The zaaktype catalogue: ``wet.kind`` or ``gemeente:wet.kind`` -> Zaaktype (gateway/zaken/catalogue.py)."""
    omschrijving: str | None = None
    """Zaak omschrijving template (``{Wet}``, ``{wet}``, ``{kind}``, ``{product}``, ``{client}``, ``{gemeente}``,
    ``{aanbieder}``, ``{beschikking}``); None: ``{Wet} {kind} {product}``."""
    ggk_versie: str | None = None
    """Profile ggk payload version: ``2.1``, ``3.2`` (``iwmo-2.1`` too) or ``source``; None: the default."""

    def ggk_target(self, wet: str, source: str) -> str:
        """The payload version for a ``wet`` message that came in as version ``source``."""
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
        if "ggk_versie" in overrides:
            out = replace(out, ggk_versie=str(overrides["ggk_versie"]))
        return out
