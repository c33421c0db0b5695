"""Every version and message family as a built-in dialect: samples and fixtures convert, golden values hold.

Covers iWmo 2.0 (305/307 public samples), 2.1 (302/305/307/316), 3.2 (301/305/307/315/317), iJw 2.1
(assumed parallel to iWmo 2.1) and iJw 3.2. Fixtures live in tests/fixtures/<version>/ with a README
each. Every conversion runs with ``validate=True``: each zakLk01 must satisfy the official StUF-ZKN schema.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.mapping import Registry
from gateway.mapping.compiler import GroupRule
from gateway.model import Bericht


def _bericht(soort: str, berichtcode: str, **client: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"bsn": "999900006"}
    base.update(client)
    return {"wet": "wmo", "soort": soort, "berichtcode": berichtcode, "versie": "3.2", "afzender": "98026987",
            "ontvanger": "0384", "identificatie": "ovs32vow01", "dagtekening": "2023-03-01", "clients": [base]}


# -- model: the 317 client, reden verzoek, product groups -----------------------------------------


def test_317_client_is_named_by_bsn_alone() -> None:
    bericht = Bericht.model_validate(_bericht(
        "verzoek-wijziging", "480", referentie_aanbieder="VOW-2023-001", reden_verzoek="2",
        producten=[{"toewijzingnummer": "320001", "verzoek_groep": "ongewijzigd"},
                   {"categorie": "02", "ingangsdatum": "2023-04-01", "verzoek_groep": "nieuw"}]))
    client = bericht.clients[0]
    assert client.naam is None and client.geboortedatum is None and client.geslacht is None
    assert client.reden_verzoek == "2"
    assert [p.verzoek_groep for p in client.producten] == ["ongewijzigd", "nieuw"]
    assert client.producten[1].ingangsdatum == dt.date(2023, 4, 1)


@pytest.mark.parametrize("missing", ["naam", "geslacht", "geboortedatum"])
def test_every_other_family_still_needs_name_sex_and_birth_date(missing: str) -> None:
    client = {"geboortedatum": "1985-01-08", "geslacht": "2", "naam": {"geslachtsnaam": {"naam": "Castricum"}}}
    del client[missing]
    with pytest.raises(ValidationError, match=rf"clients\.0\.{missing}: required in a start message"):
        Bericht.model_validate(_bericht("start", "418", **client))


@pytest.mark.parametrize(("field", "value"), [("reden_verzoek", "3"), ("verzoek_groep", "gewijzigd")])
def test_317_codes_are_closed_lists(field: str, value: str) -> None:
    data = _bericht("verzoek-wijziging", "480")
    target = data["clients"][0] if field == "reden_verzoek" else data["clients"][0].setdefault("producten", [{}])[0]
    target[field] = value
    with pytest.raises(ValidationError):
        Bericht.model_validate(data)


def test_retourcodes_sit_at_every_level_of_a_retour() -> None:
    data = _bericht("toewijzing-retour", "415", geboortedatum="1985-01-08", geslacht="2",
                    naam={"geslachtsnaam": {"naam": "Castricum"}}, retourcodes=["0200"],
                    relaties=[{"nummer": "1", "soort": "12", "naam": {"geslachtsnaam": {"naam": "Mistral"}},
                               "retourcodes": ["0200"], "contacten": [{"soort": "01", "retourcodes": ["0200"]}]}],
                    beschikking={"nummer": "1", "retourcodes": ["8002"],
                                 "producten": [{"categorie": "01", "ingangsdatum": "2016-03-07",
                                                "retourcodes": ["0200"]}],
                                 "beperkingen": [{"categorie": "1", "retourcodes": ["0200"],
                                                  "scores": [{"vraag": "0101", "score": "1",
                                                              "retourcodes": ["0200"]}]}]},
                    producten=[{"categorie": "01", "retourcodes": ["S002", "0001"]}])
    data.update(retourcodes=["0200"], identificatie_retour="ret000000001", dagtekening_retour="2016-03-08")
    client = Bericht.model_validate(data).clients[0]
    assert client.relaties[0].contacten[0].retourcodes == ["0200"]
    assert client.beschikking is not None and client.beschikking.retourcodes == ["8002"]
    assert client.beschikking.beperkingen[0].scores[0].retourcodes == ["0200"]
    assert client.producten[0].retourcodes == ["S002", "0001"]


# -- extends: a group restated with its own each: keeps the base rules of the groups inside it -----


def test_nested_group_delta_inside_a_restated_group_keeps_its_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(
        "overstap-mapping: 1\nname: probe-base\nmatch: {root: Base}\nrules:\n"
        "  wet: {constant: wmo}\n  clients:\n    each: Client\n    rules:\n      bsn: Bsn\n"
        "      producten:\n        each: Regel\n        rules:\n          code: Code\n          einddatum: Eind\n",
        encoding="utf-8")
    (tmp_path / "child.yaml").write_text(
        "overstap-mapping: 1\nname: probe-child\nextends: probe-base\nmatch: {root: Child}\nrules:\n"
        "  clients:\n    each: Persoon\n    rules:\n      bsn: Bsn\n"
        "      producten:\n        rules:\n          einddatum: null\n          categorie: Cat\n",
        encoding="utf-8")
    child = Registry(dirs=[tmp_path]).get("probe-child")
    clients = next(r for r in child.rules if isinstance(r, GroupRule))
    producten = next(r for r in clients.rules if isinstance(r, GroupRule))
    assert clients.each.expr == "Persoon"
    assert producten.each.expr == "Regel"  # inherited, although the child's producten names no each:
    assert [r.target for r in producten.rules] == ["code", "categorie"]
