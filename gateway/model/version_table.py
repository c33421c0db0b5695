"""What each iWmo/iJw version can hold, and the code crosswalks between versions: the data
:func:`gateway.model.versions.for_version` normalises a message by.

Kept apart from the rules that apply it because it changes for a different reason (a new release's code
lists, docs/canonical-spec.md 7.5 and notes/codelists.md), and is read as a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _codes(*values: str) -> frozenset[str]:
    return frozenset(values)


def _range(first: int, last: int) -> frozenset[str]:
    return frozenset(f"{n:02d}" for n in range(first, last + 1))


@dataclass(frozen=True, slots=True)
class Version:
    """What one (wet, version) can hold, as far as the rules below need to know. ``None``: not narrowed."""

    wet: str
    versie: str
    reden_wijziging: frozenset[str] | None  # WMO002/JZ002; 2.0 has RedenIntrekking instead (``has_reden_wijziging``)
    eenheid: frozenset[str] | None
    frequentie: frozenset[str] | None
    beperking: frozenset[str] | None
    status_aanlevering: frozenset[str] | None  # on a 305/307 line
    type_verwijzer: frozenset[str] | None
    reden_beeindiging: frozenset[str] | None
    xsd_21: bool = False
    """Has the iWmo 2.1 XSD's structural limits: a Contact in each Relatie (one), Landnummer with a phone number."""
    lengths: dict[str, int] = field(default_factory=dict)
    """Text lengths by field name (LENGTHS_21, LENGTHS_20); a name not in it is not narrowed."""

    label: str = field(init=False, repr=False, compare=False)
    """``iWmo 2.1``, ``iJw 3.2``: the version in words, for notes."""
    generation: str = field(init=False, repr=False, compare=False)
    """``2.0``, ``2.1`` or ``3``: the steps in which elements came and went."""
    has_reden_wijziging: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """The derived facts, worked out once: the rules read them ~10 times a message."""
        generation = "3" if self.versie.startswith("3") else self.versie
        object.__setattr__(self, "label", f"{'iWmo' if self.wet == 'wmo' else 'iJw'} {self.versie}")
        object.__setattr__(self, "generation", generation)
        object.__setattr__(self, "has_reden_wijziging", generation != "2.0")


LENGTHS_21: dict[str, int] = {
    "voorvoegsel": 10, "voornamen": 200, "huisletter": 1, "huisnummertoevoeging": 4, "postcode": 8,
    "straatnaam": 24, "plaatsnaam": 80, "organisatie": 35, "emailadres": 80, "communicatietaal": 25,
    "verwijzer.naam": 64, "relatie.nummer": 20, "telefoon.nummer": 15, "telefoon.landnummer": 4,
}
"""Optional texts with a maxLength in the iWmo 2.1 basisschema (longer values are dropped, not cut)."""

LENGTHS_20: dict[str, int] = {**LENGTHS_21, "naam": 25, "plaatsnaam": 24, "emailadres": 70}
"""The same for iWmo 2.0, which has no XSD here. Source: notes/message-structures.md 7, "Length changes between the
2.0 flat format and 2.1 XML (from B and the EI layout): Naam 25 became 200, Plaatsnaam 24 became 80, Emailadres 70
became 80"; every other text keeps its 2.1 length, as the 2.0 flat file's widths say (notes/ei-flat-format.md 3-9:
Voorvoegsel 10, Voorletters 6, Postcode 8, Straatnaam 24, Telefoonnummer 15, Landnummer 4, Relatie Nummer 20, ...).
``naam`` is CDT_Achternaam's Naam (a Geslachtsnaam or Partnernaam), which 2.1 and the canonical model cap at 200:
required, so a longer one is refused or its Relatie or Partnernaam dropped (gateway.model.versions)."""

_WMO_21 = dict(
    reden_wijziging=_range(1, 9), eenheid=_codes("01", "04", "14", "16", "82", "83"),
    frequentie=_codes("1", "2", "3", "4", "5", "6"), beperking=_codes("1", "2", "3", "4", "5", "6"),
    status_aanlevering=_codes("1", "2", "3", "9"), type_verwijzer=_range(1, 8),
)
_32 = dict(
    reden_wijziging=_range(2, 14), eenheid=_codes("01", "04", "14", "16", "82", "83", "84"),
    frequentie=_codes("1", "2", "4", "6"), beperking=None, status_aanlevering=_codes("1", "3"),
)
VERSIONS: dict[tuple[str, str], Version] = {
    ("wmo", "2.0"): Version("wmo", "2.0", None, None, None, None, None, None, None, lengths=LENGTHS_20),
    ("wmo", "2.1"): Version("wmo", "2.1", **_WMO_21, reden_beeindiging=_codes("02", "19", "20", "31", "32", "33", "34"),
                            xsd_21=True, lengths=LENGTHS_21),
    # iJw 2.1 is assumed to have the iWmo 2.1 structure (docs/canonical-spec.md 7.6); its JZ588 list is unknown.
    ("jw", "2.1"): Version("jw", "2.1", **_WMO_21, reden_beeindiging=None, xsd_21=True, lengths=LENGTHS_21),
    ("wmo", "3.2"): Version("wmo", "3.2", **_32, type_verwijzer=_range(1, 8),
                            reden_beeindiging=_codes("02", "19", "20", "21", "22", "23", "31", "36", "37", "38", "39")),
    ("jw", "3.2"): Version("jw", "3.2", **_32, type_verwijzer=_range(1, 6) | {"08"},
                           reden_beeindiging=_codes("02", "20", *(str(n) for n in range(31, 40)))),
}
"""Code lists per target (docs/canonical-spec.md 7.5, notes/codelists.md); the 3.2 ones equal the dialects' maps."""

REDEN_INTREKKING_TO_WIJZIGING: dict[str, str] = {
    "1": "02",  # client overleden -> overlijden
    "2": "05",  # negatief indicatiebesluit -> herbeoordeling: verkorting
    "3": "05",  # herindicatie -> herbeoordeling: verkorting (the new toewijzing follows)
    "4": "09",  # overplaatsing -> overstap naar andere aanbieder
    "6": "06",  # uitstroom -> uitstroom naar ander domein
}
"""2.0 RedenIntrekking (COD172) -> closest 2.1+ RedenWijziging (WMO002); the choice of tests/fixtures/iwmo21."""

REDEN_WIJZIGING_TO_INTREKKING: dict[str, str] = {"02": "1", "09": "4", "06": "6"}
"""2.1+ RedenWijziging -> 2.0 RedenIntrekking where one code means it (05 could be 2 or 3: not written)."""

REDEN_WIJZIGING_TO_21: dict[str, str] = {
    "13": "01",  # 3.x "verwijderd" (Einddatum = Ingangsdatum) -> administratieve correctie
    "14": "01",  # 3.x administratieve correctie (nieuwe stijl) -> administratieve correctie
}
"""3.x RedenWijziging codes with a 2.1 equivalent; 10, 11 and 12 have none."""

REDEN_WIJZIGING_TO_3: dict[str, str] = {"01": "14"}
"""2.x administratieve correctie -> its 3.x successor (01 lapsed, CS336)."""

BEEINDIGING_SAME_MEANING: dict[tuple[str, str, str], frozenset[str]] = {
    ("wmo", "2", "3"): _codes("02", "31"),  # overlijden, verhuizing: the rest changed meaning (notes 5)
    ("jw", "2", "3"): _codes("02"),  # the iJw 2.x list is unknown; only overlijden is safe
}
"""RedenBeeindiging codes that mean the same in a 2.x and a 3.x list of one wet. iWmo 2.0 is read as the 2.1
list (the 2.0 samples' codes are in it)."""
