"""Every place where :func:`gateway.model.versions.for_version` drops a text that is too long for iWmo 2.1, or
writes a multi-line Commentaar on one line, names that place by its exact canonical path.

Why: since issue 13's tenth session the rules hand a path over in pieces (``path, "adres.", name``) that are
joined only when something is dropped or noted, so that the common case (nothing to report) builds no path text.
A piece left out or put in the wrong order would only show in the account, which is what this checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.model import Bericht, Verwijzer
from gateway.model.versions import for_version
from gateway.pipeline import Converter

FULL = Path(__file__).resolve().parent / "fixtures" / "iwmo21" / "Full-WMO301_alle_elementen.xml"

TOO_LONG = {  # path -> a value longer than iWmo 2.1 allows there (LENGTHS_21)
    "clients.0.communicatietaal": "x" * 26,
    "clients.0.naam.geslachtsnaam.voorvoegsel": "x" * 11,
    "clients.0.naam.partnernaam.voorvoegsel": "x" * 11,
    "clients.0.naam.voornamen": "x" * 201,
    "clients.0.contacten.0.adres.huisletter": "AB",
    "clients.0.contacten.0.adres.huisnummertoevoeging": "x" * 5,
    "clients.0.contacten.0.adres.postcode": "x" * 9,
    "clients.0.contacten.0.adres.straatnaam": "x" * 25,
    "clients.0.contacten.0.adres.plaatsnaam": "x" * 81,
    "clients.0.contacten.0.organisatie": "x" * 36,
    "clients.0.contacten.0.emailadres": "x" * 81,
    "clients.0.contacten.0.telefoon.0.nummer": "1" * 16,
    "clients.0.contacten.0.telefoon.0.landnummer": "1" * 5,
    "clients.0.relaties.0.naam.voornamen": "x" * 201,
    "clients.0.relaties.0.contacten.0.adres.straatnaam": "x" * 25,
    "clients.0.producten.0.verwijzer.naam": "x" * 65,
}
MULTI_LINE = ["clients.0.commentaar", "clients.0.producten.0.commentaar", "clients.0.beschikking.commentaar",
              "clients.0.beschikking.beperkingen.0.commentaar",
              "clients.0.beschikking.beperkingen.0.scores.0.commentaar",
              "clients.0.beschikking.producten.0.commentaar"]


@pytest.fixture(scope="module")
def full_301(reference_dir: Path) -> Bericht:
    return Converter().to_model(FULL.read_bytes(), FULL.name)[2].bericht


def _set(bericht: Bericht, path: str, value: str) -> Bericht:
    """A deep copy of ``bericht`` with the value at ``path`` set (every part on the way must be there; the
    first product gets a Verwijzer)."""
    copy = bericht.model_copy(deep=True)
    copy.clients[0].producten[0].verwijzer = Verwijzer(type="01", naam="Huisarts")
    *steps, last = path.split(".")
    node: Any = copy
    for step in steps:
        node = node[int(step)] if step.isdigit() else getattr(node, step)
        assert node is not None, f"the Full fixture has no {step} on the way to {path}"
    object.__setattr__(node, last, value)
    return copy


@pytest.mark.parametrize("path", list(TOO_LONG))
def test_a_text_too_long_for_2_1_is_dropped_at_its_own_path(full_301: Bericht, path: str) -> None:
    result = for_version(_set(full_301, path, TOO_LONG[path]), "wmo", "2.1")
    assert any(d.startswith(f"{path}: longer than the ") for d in result.dropped), result.dropped


def test_a_relatie_number_too_long_for_2_1_drops_the_relatie(full_301: Bericht) -> None:
    result = for_version(_set(full_301, "clients.0.relaties.0.nummer", "1" * 21), "wmo", "2.1")
    assert "clients.0.relaties.0: longer than the 20 characters iWmo 2.1 allows" in result.dropped


@pytest.mark.parametrize("path", MULTI_LINE)
def test_a_multi_line_commentaar_is_noted_at_its_own_path(full_301: Bericht, path: str) -> None:
    result = for_version(_set(full_301, path, "een\r\ntwee"), "wmo", "2.1")
    assert f"{path}: line breaks written as spaces (iWmo 2.1 Commentaar is a single line)" in result.normalised
