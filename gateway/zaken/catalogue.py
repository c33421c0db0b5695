"""The zaaktype catalogue: which zaaktype (and which statustypes) a zaak of a gemeente gets.

A receiving zaaksysteem only accepts zaaktypen and statustypen from its own zaaktypecatalogus (ZTC), so
these come from configuration, never from message codes. The demo default below is what ``make run``
and the tests use; a deployment sets its own per gemeente (``render.zaaktypen``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("toewijzing", "aanvraag")
"""Zaak kinds: a toegewezen product line, or a requested one (315, 317)."""

STATUS_EVENTS = ("gestart", "correctie", "gestopt", "afgehandeld")
"""Events that set a status: delivery started (305), a start taken back (305 StatusAanlevering 3),
delivery stopped (307), zaak closed (eindstatus)."""


@dataclass(frozen=True, slots=True)
class Statustype:
    """One ZTC statustype. ``code`` and ``ingangsdatum`` (yyyymmdd) complete its kerngegevens where the ZTC has
    them; unknown, they are sent as waardeOnbekend (StUF 03.01 5.2.4: kerngegevens are always included)."""

    volgnummer: int
    omschrijving: str
    code: str | None = None
    ingangsdatum: str | None = None


@dataclass(frozen=True, slots=True)
class Zaaktype:
    """One ZTC zaaktype: code (max 10), omschrijving (max 80), ingangsdatumObject, its statustypes."""

    code: str
    omschrijving: str
    ingangsdatum: str = "20150101"
    statustypes: dict[str, Statustype] = field(default_factory=dict)
    drop: frozenset[str] = frozenset()
    """Privacy: parts not sent for this zaaktype: ``betrokkenen`` (relatives), ``toelichting`` (free text),
    ``contact`` (telephone, e-mail)."""


DROPPABLE = frozenset({"betrokkenen", "toelichting", "contact"})


def _demo_statustypes() -> dict[str, Statustype]:
    return {
        "gestart": Statustype(1, "Levering gestart"),
        "correctie": Statustype(2, "Start levering ingetrokken"),
        "gestopt": Statustype(3, "Levering gestopt"),
        "afgehandeld": Statustype(9, "Afgehandeld"),
    }


DEMO_ZAAKTYPEN: dict[str, Zaaktype] = {
    "wmo.toewijzing": Zaaktype("WMOTOEW", "Toewijzing Wmo-ondersteuning", statustypes=_demo_statustypes()),
    "jw.toewijzing": Zaaktype("JWTOEW", "Toewijzing jeugdhulp", statustypes=_demo_statustypes()),
    "wmo.aanvraag": Zaaktype("WMOAANV", "Aanvraag Wmo-ondersteuning (verzoek om toewijzing)",
                             statustypes={"afgehandeld": Statustype(9, "Afgehandeld")}),
    "jw.aanvraag": Zaaktype("JWAANV", "Aanvraag jeugdhulp (verzoek om toewijzing)",
                            statustypes={"afgehandeld": Statustype(9, "Afgehandeld")}),
}
"""Demo catalogue, keyed ``wet.kind``; a gemeente-specific entry is keyed ``gemeente:wet.kind``
(``0384:wmo.toewijzing``)."""


def zaaktype_for(catalogue: dict[str, Zaaktype], gemeente: str, wet: str, kind: str) -> Zaaktype | None:
    """The gemeente's own zaaktype for ``wet.kind``, else the catalogue's general one."""
    return catalogue.get(f"{gemeente}:{wet}.{kind}") or catalogue.get(f"{wet}.{kind}")
