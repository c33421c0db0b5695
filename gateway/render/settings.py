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

NEWEST = "newest"
DEFAULT_GGK_VERSIE: dict[str, str] = {"wmo": NEWEST, "jw": NEWEST}
"""Payload version of profile ggk when ``ggk_versie`` is not set: the newest release Overstap has a built-in
dialect for (iWmo 3.2, iJw 3.2). A 2.x message goes in the newest 2.x release (2.1): a 3.x header requires the
XsdVersie of the XSDs the sender used, which a 2.x message does not carry (docs/ggk-profile.md 3.2)."""


@dataclass(frozen=True, slots=True)
class Systeem:
    organisatie: str | None = None  # None: take it from the message header (afzender/ontvanger)
    applicatie: str = "OVERSTAP"
    administratie: str | None = None
    """StUF administratie; profile ggk fills zender.administratie (``{gemeente}``: the gemeentecode)."""


@dataclass(frozen=True, slots=True)
class RenderSettings:
    zender: Systeem = Systeem(applicatie="OVERSTAP")
    ontvanger: Systeem = Systeem(applicatie="ZAAKSYSTEEM")
    zaaktype: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ZAAKTYPE))
    identificatie: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_IDENTIFICATIE))
    omschrijving: str = DEFAULT_OMSCHRIJVING
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
