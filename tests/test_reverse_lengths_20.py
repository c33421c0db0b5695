"""Texts too long for iWmo 2.0 are not written into its XML (the review of session 21's way back).

There is no 2.0 XSD here, so a 30-character Plaatsnaam or Geslachtsnaam read from a zaak was written as it was. The
2.1 path drops an optional text longer than its XSD allows, naming it, and the canonical model refuses a required
one longer than 2.1's 200; 2.0 now follows the same rule with its own lengths (notes/message-structures.md 7:
Naam 25, Plaatsnaam 24, Emailadres 70; gateway/model/version_table.py LENGTHS_20).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.mapping import ConversionError
from gateway.pipeline import Converter

FIXTURE = Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
M20 = "{http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0}"
I20 = "{http://www.istandaarden.nl/iwmo/2_0/basisschema/schema/2_0}"
PLAATS = "Diemen-Ouderkerk aan de Amstel"  # 30 characters: 2.1 allows 80, 2.0 24
EMAIL = "d" * 61 + "@email.nl"  # 70: what 2.0 allows
LONG_EMAIL = "d" * 62 + "@email.nl"  # 71


def _zaak(data: bytes) -> bytes:
    (zaak,) = Converter(shared_registry(), validate=False).convert(data, "a02.xml").outputs
    assert zaak.operation == "creeerZaak"
    return zaak.xml


def _with(**texts: str) -> bytes:
    data = FIXTURE.read_bytes()
    for old, new in texts.items():
        changed = data.replace(old.encode(), new.encode())
        assert changed != data, old
        data = changed
    return data


def test_an_optional_text_too_long_for_2_0_is_dropped_and_named_not_written() -> None:
    zaak = _zaak(_with(**{">Diemen<": f">{PLAATS}<", ">DHRGaastra@email.nl<": f">{LONG_EMAIL}<",
                          ">dsmistral@email.nl<": f">{EMAIL}<"}))
    converter = Converter(shared_registry(), validate=True)
    (v20,) = converter.reverse(zaak, "iwmo20-wmo301", "zaak.xml")
    root = etree.fromstring(v20.xml)
    assert [e.text for e in root.iter(f"{I20}Plaatsnaam")] == []
    assert [e.text for e in root.iter(f"{I20}Straatnaam")] == ["Eekholt", "Eekholt"]  # the rest of the address
    assert [e.text for e in root.iter(f"{M20}Emailadres")] == [EMAIL]  # the relative's, 70: it fits
    assert [u for u in v20.unplaced if "longer" in u] == [
        "clients.0.contacten.0.adres.plaatsnaam: longer than the 24 characters iWmo 2.0 allows",
        "clients.0.contacten.0.emailadres: longer than the 70 characters iWmo 2.0 allows",
        "clients.0.relaties.0.contacten.0.adres.plaatsnaam: longer than the 24 characters iWmo 2.0 allows"]
    assert PLAATS not in " ".join(v20.unplaced + v20.normalised)  # by path, never with the value
    (v21,) = converter.reverse(zaak, "iwmo21-wmo301", "zaak.xml")  # 2.1 holds them (Plaatsnaam 80, Emailadres 80)
    assert PLAATS.encode() in v21.xml and LONG_EMAIL.encode() in v21.xml
    assert not [u for u in v21.unplaced if "longer" in u]


def test_a_client_s_geslachtsnaam_too_long_for_2_0_is_refused_naming_the_field() -> None:
    naam = "Gaastra-van Ouderkerk-Amstel"  # 28: 2.0 allows 25
    zaak = _zaak(_with(**{">Gaastra<": f">{naam}<"}))
    with pytest.raises(ConversionError) as caught:
        Converter(shared_registry(), validate=True).reverse(zaak, "iwmo20-wmo301", "zaak.xml")
    assert (caught.value.field, caught.value.code) == ("clients.0.naam.geslachtsnaam.naam", "StUF055")
    assert caught.value.message == ("clients.0.naam.geslachtsnaam.naam: longer than the 25 characters iWmo 2.0 "
                                    "allows; it is required, so the message cannot be written in iWmo 2.0")
    assert naam not in str(caught.value)
    (v21,) = Converter(shared_registry(), validate=True).reverse(zaak, "iwmo21-wmo301", "zaak.xml")
    assert naam.encode() in v21.xml


def test_a_relative_whose_geslachtsnaam_is_too_long_for_2_0_is_dropped_and_named() -> None:
    naam = "Mistral-van Ouderkerk-Amstel"  # 28
    zaak = _zaak(_with(**{">Mistral<": f">{naam}<"}))
    (v20,) = Converter(shared_registry(), validate=True).reverse(zaak, "iwmo20-wmo301", "zaak.xml")
    assert [e.text for e in etree.fromstring(v20.xml).iter(f"{M20}Relatie")] == []
    assert "Gaastra" in v20.xml.decode()  # the client is written
    assert "clients.0.relaties.0: its Geslachtsnaam is longer than the 25 characters iWmo 2.0 allows (required)" \
        in v20.unplaced


def test_a_partnernaam_too_long_for_2_0_is_dropped_as_a_whole_and_named() -> None:
    """Its Naam is required in a Partnernaam: the Partnernaam goes, the client's own name is written."""
    full = FIXTURE.parent / "Full-WMO301_alle_elementen.xml"
    naam = "Dijk-van Ouderkerk-Amstel-X"  # 27
    data = full.read_bytes().replace(b"<iwmo:Naam>Dijk</iwmo:Naam>", f"<iwmo:Naam>{naam}</iwmo:Naam>".encode())
    (v20,) = Converter(shared_registry(), validate=False).reverse(data, "iwmo20-wmo301", "full.xml")
    root = etree.fromstring(v20.xml)
    client = next(root.iter(f"{M20}Client"))
    assert client.find(f"{M20}Naam/{I20}Partnernaam") is None
    assert client.findtext(f"{M20}Naam/{I20}Geslachtsnaam/{I20}Naam")
    assert "clients.0.naam.partnernaam: longer than the 25 characters iWmo 2.0 allows" in v20.unplaced
    assert naam.encode() not in v20.xml
