"""Render settings: who sends and receives, which zaaktype, how zaak identifiers are made.

Defaults come from here, a deployment may set its own, and each mapping file may override them
for its vendor (``render:`` in the mapping file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

DEFAULT_ZAAKTYPE: dict[str, str] = {
    "wmo.toewijzing": "WMO301",
    "wmo.verzoek": "WMO315",
    "wmo.start": "WMO305",
    "wmo.stop": "WMO307",
    "wmo.verzoek-wijziging": "WMO317",
    "jw.toewijzing": "JW301",
    "jw.verzoek": "JW315",
    "jw.start": "JW305",
    "jw.stop": "JW307",
    "jw.verzoek-wijziging": "JW317",
}
"""(wet.soort) -> ZKT code (max 10 characters in StUF-ZKN 3.10)."""

DEFAULT_IDENTIFICATIE: dict[str, str] = {
    "toewijzing": "{gemeente}-{beschikkingnummer}-{beschikking_ingangsdatum}",
    "toewijzing.zonder-beschikking": "{gemeente}-T{toewijzingnummer}",
    "verzoek": "{aanbieder}-{identificatie}-{client}",
    "start": "{gemeente}-{aanbieder}-{identificatie}-{client}",
    "stop": "{gemeente}-{aanbieder}-{identificatie}-{client}",
    "default": "{afzender}-{identificatie}-{client}",
}
"""Zaak identificatie templates per message kind; see docs/canonical-spec.md for the placeholders."""

DEFAULT_OMSCHRIJVING = "{Wet} {soort} {bericht} client {client}"

DEFAULT_GGK_VERSIE: dict[str, str] = {"wmo": "2.1", "jw": "source"}
"""Payload version of profile ggk when ``ggk_versie`` is not set. iWmo: 2.1, the version the official XSDs
validate. iJw: the version the message came in (``source``), because no iJw XSD validates any target and an
iJw 2.1 message cannot become 3.2 without XsdVersie values Overstap cannot know (docs/ggk-profile.md 3)."""


@dataclass(frozen=True, slots=True)
class Systeem:
    organisatie: str | None = None  # None: take it from the message header (afzender/ontvanger)
    applicatie: str = "OVERSTAP"


@dataclass(frozen=True, slots=True)
class RenderSettings:
    zender: Systeem = Systeem(applicatie="OVERSTAP")
    ontvanger: Systeem = Systeem(applicatie="ZAAKSYSTEEM")
    zaaktype: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ZAAKTYPE))
    identificatie: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_IDENTIFICATIE))
    omschrijving: str = DEFAULT_OMSCHRIJVING
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
                )})
        if "zaaktype" in overrides:
            out = replace(out, zaaktype={**out.zaaktype, **{str(k): str(v) for k, v in overrides["zaaktype"].items()}})
        if "identificatie" in overrides:
            value = overrides["identificatie"]
            table = {"default": str(value)} if isinstance(value, str) else {str(k): str(v) for k, v in value.items()}
            if isinstance(value, str):
                table = dict.fromkeys(out.identificatie, str(value))
            out = replace(out, identificatie={**out.identificatie, **table})
        if "omschrijving" in overrides:
            out = replace(out, omschrijving=str(overrides["omschrijving"]))
        if "ggk_versie" in overrides:
            out = replace(out, ggk_versie=str(overrides["ggk_versie"]))
        return out
