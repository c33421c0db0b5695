"""gateway.model.versions: a canonical message rewritten for another iWmo/iJw version, rule by rule.

Why these tests: the GGk payload and the reverse conversion write a message in a version it may not
have come in. Each rule of docs/ggk-profile.md section 3 is checked here with real values: what the
target gets, what is reported as normalised or dropped (by path, never with the value), and that the
code lists agree with the dialects and the official 2.1 XSD they stand for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from shared_registry import shared_registry

from gateway.model import Bericht, Omvang, Verwijzer
from gateway.model.versions import (
    REDEN_INTREKKING_TO_WIJZIGING,
    VERSIONS,
    for_version,
)
from gateway.pipeline import Converter

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def converter() -> Converter:
    return Converter(shared_registry())


def load(converter: Converter, path: Path) -> Bericht:
    return converter.to_model(path.read_bytes(), path.name)[2].bericht


@pytest.fixture(scope="module")
def full_301(converter: Converter) -> Bericht:
    return load(converter, FIXTURES / "iwmo21" / "Full-WMO301_alle_elementen.xml")


@pytest.fixture(scope="module")
def sample_20(converter: Converter, reference_dir: Path) -> Bericht:
    return load(converter, reference_dir / "samples" / "iwmo20-xml" / "CasusA-04-WMO301_intrekking.xml")


def paths_of(notes: list[str]) -> list[str]:
    return [n.split(": ", 1)[0] for n in notes]


def strings(value: object) -> set[str]:
    """Every text value of a dumped model, for the check that no note repeats one."""
    if isinstance(value, dict):
        return set().union(*(strings(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(strings(v) for v in value)) if value else set()
    return {str(value)} if value is not None else set()


# --- same version: nothing to do ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted((FIXTURES / "iwmo21").glob("*.xml")) + sorted((FIXTURES / "iwmo32").glob(
    "*.xml")) + sorted((FIXTURES / "ijw21").glob("*.xml")) + sorted((FIXTURES / "ijw32").glob("*.xml")),
    ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_message_in_its_own_version_is_left_as_it_is(converter: Converter, path: Path) -> None:
    bericht = load(converter, path)
    result = for_version(bericht, bericht.wet, bericht.versie)
    assert result.bericht == bericht
    assert (result.normalised, result.dropped) == ([], [])


def test_the_message_passed_in_is_not_changed(sample_20: Bericht) -> None:
    before = sample_20.model_dump()
    result = for_version(sample_20, "wmo", "2.1")
    assert sample_20.model_dump() == before
    assert result.bericht.clients[0].producten[0].reden_wijziging == "09"
    assert sample_20.clients[0].producten[0].reden_intrekking == "4"


def _every_fixture() -> list[Path]:
    return [p for folder in ("iwmo21", "iwmo32", "ijw21", "ijw32") for p in sorted((FIXTURES / folder).glob("*.xml"))]


@pytest.mark.parametrize("path", _every_fixture(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_target_version_changes_the_message_passed_in(converter: Converter, path: Path,
                                                         reference_dir: Path) -> None:
    """The rules edit copies made on the first change and share the rest (copy on write): every fixture,
    and the 2.0 samples, written in every version of its wet leave the message they were given as it was."""
    samples = sorted((reference_dir / "samples" / "iwmo20-xml").glob("*.xml")) if path.name.startswith("Full") else []
    for one in [path, *samples]:
        bericht = load(converter, one)
        before = bericht.model_dump()
        for wet, versie in VERSIONS:
            if wet != bericht.wet:
                continue
            first = for_version(bericht, wet, versie)
            assert bericht.model_dump() == before, f"{one.name} as {wet} {versie} changed the message passed in"
            again = for_version(bericht, wet, versie)
            assert (again.bericht.model_dump(), again.normalised, again.dropped) == (
                first.bericht.model_dump(), first.normalised, first.dropped)


def test_a_message_that_needs_no_change_is_not_copied(full_301: Bericht, sample_20: Bericht) -> None:
    assert for_version(full_301, "wmo", "2.1").bericht is full_301
    result = for_version(sample_20, "wmo", "2.1")
    assert result.bericht is not sample_20 and result.bericht.clients[0] is not sample_20.clients[0]
    assert result.bericht.clients[0].naam is sample_20.clients[0].naam, "a part no rule changed is shared"


def test_unknown_version_or_other_wet_is_a_value_error(full_301: Bericht) -> None:
    with pytest.raises(ValueError, match=r"no version rules for jw 2\.0"):
        for_version(full_301, "jw", "2.0")
    with pytest.raises(ValueError, match=r"a wmo message cannot be written as iJw 3\.2"):
        for_version(full_301, "jw", "3.2")


# --- 2.0 -> 2.1 ------------------------------------------------------------------------------------------------------

def test_a_2_0_toewijzing_becomes_2_1(sample_20: Bericht) -> None:
    result = for_version(sample_20, "wmo", "2.1")
    b, product = result.bericht, result.bericht.clients[0].producten[0]
    assert b.versie == "2.1"
    assert (product.reden_wijziging, product.reden_intrekking) == ("09", None)
    assert product.gemeentecode is None, "the Header's Afzender carries it"
    assert product.aanbieder == sample_20.clients[0].producten[0].aanbieder == "98025566"
    assert paths_of(result.normalised) == ["versie", "clients.0.producten.0.reden_intrekking",
                                          "clients.0.producten.0.gemeentecode"]
    assert result.dropped == []


@pytest.mark.parametrize(("intrekking", "wijziging"), sorted(REDEN_INTREKKING_TO_WIJZIGING.items()))
def test_every_2_0_reden_intrekking_has_its_2_1_reden_wijziging(sample_20: Bericht, intrekking: str,
                                                                wijziging: str) -> None:
    b = sample_20.model_copy(deep=True)
    b.clients[0].producten[0].reden_intrekking = intrekking
    product = for_version(b, "wmo", "2.1").bericht.clients[0].producten[0]
    assert (product.reden_intrekking, product.reden_wijziging) == (None, wijziging)
    assert for_version(b, "wmo", "3.2").bericht.clients[0].producten[0].reden_wijziging == wijziging


def test_both_redenen_keep_the_wijziging_and_drop_the_intrekking(sample_20: Bericht) -> None:
    b = sample_20.model_copy(deep=True)
    b.clients[0].producten[0].reden_wijziging = "03"
    result = for_version(b, "wmo", "2.1")
    assert result.bericht.clients[0].producten[0].reden_wijziging == "03"
    assert result.dropped == ["clients.0.producten.0.reden_intrekking: RedenWijziging is already set"]


def test_the_2_0_naamcode_becomes_naamgebruik_in_a_toewijzing(sample_20: Bericht) -> None:
    b = sample_20.model_copy(deep=True)
    b.clients[0].naam.naamgebruik = None
    b.clients[0].naam.geslachtsnaam.naamcode = "2"
    result = for_version(b, "wmo", "2.1")
    naam = result.bericht.clients[0].naam
    assert (naam.naamgebruik, naam.geslachtsnaam.naamcode) == ("2", None)
    assert "clients.0.naam.geslachtsnaam.naamcode" in paths_of(result.normalised)


def test_a_2_0_verzoek_gets_the_referentie_and_aanbieder_2_1_requires(converter: Converter,
                                                                      reference_dir: Path) -> None:
    b = load(converter, reference_dir / "samples" / "iwmo20-xml" / "CasusA-01-WMO315_verzoek.xml")
    b.clients[0].producten[0].aanbieder = None
    result = for_version(b, "wmo", "2.1")
    product = result.bericht.clients[0].producten[0]
    assert product.referentie_aanbieder == "77edaa56cd81-1-1", "BerichtIdentificatie-client-product"
    assert product.aanbieder == b.afzender == "98025566"
    assert result.bericht.clients[0].naam.geslachtsnaam.naamcode is not None, "a 315 name has no NaamGebruik"
    assert set(paths_of(result.normalised)) >= {"clients.0.producten.0.referentie_aanbieder",
                                                "clients.0.producten.0.aanbieder"}


def test_notes_never_carry_the_message_values(sample_20: Bericht, full_301: Bericht) -> None:
    """Paths and rules only: a RedenWijziging 02 says a client died, a name or BSN is personal data."""
    for b, versie in ((sample_20, "2.1"), (sample_20, "3.2"), (full_301, "3.2"), (full_301, "2.0")):
        result = for_version(b, "wmo", versie)
        values = {v for v in strings(b.model_dump(include={"clients", "identificatie"})) if len(v) >= 5}
        for note in result.normalised + result.dropped:
            text = note.split(": ", 1)[1]
            assert not any(v in text for v in values), note


# --- values 2.1 cannot hold ------------------------------------------------------------------------------------------

def test_3_x_values_2_1_cannot_hold(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    client = b.clients[0]
    client.producten.append(client.producten[0].model_copy(deep=True))
    client.producten[0].omvang = Omvang(volume=3, eenheid="84", frequentie="2")  # 3.x stuks (inspanning)
    client.producten[0].reden_wijziging = "11"  # 3.x gemeentelijke herindeling: no 2.1 code
    client.producten[1].reden_wijziging = "14"  # 3.x administratieve correctie -> 2.1 01
    client.contacten[0].telefoon[0].landnummer = None
    b.versie = "3.2"
    result = for_version(b, "wmo", "2.1")
    out = result.bericht.clients[0]
    assert out.producten[0].omvang is None and out.producten[0].reden_wijziging is None
    assert out.producten[1].reden_wijziging == "01"
    assert out.producten[1].omvang == client.producten[1].omvang
    assert [t.nummer for t in out.contacten[0].telefoon] == [t.nummer for t in client.contacten[0].telefoon[1:]]
    assert result.dropped == [
        "clients.0.contacten.0.telefoon.0: iWmo 2.1 needs a Landnummer with every Telefoonnummer",
        "clients.0.producten.0.reden_wijziging: the code has no iWmo 2.1 equivalent",
        "clients.0.producten.0.omvang: the Eenheid is not in the iWmo 2.1 list",
    ]
    assert "clients.0.producten.1.reden_wijziging: written as the closest iWmo 2.1 code" in result.normalised


def test_relatie_without_contact_is_dropped_and_commentaar_becomes_one_line(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    assert b.clients[0].relaties, "the Full fixture has a relatie"
    b.clients[0].relaties[0].contacten = []
    b.clients[0].commentaar = "eerste regel\r\n  tweede regel"
    b.clients[0].beschikking.beperkingen[0].categorie = "9"
    b.clients[0].naam.voorletters = "J.M."
    result = for_version(b, "wmo", "2.1")
    client = result.bericht.clients[0]
    assert client.relaties == []
    assert client.commentaar == "eerste regel tweede regel"
    assert client.naam.voorletters == "JM"
    assert len(client.beschikking.beperkingen) == len(b.clients[0].beschikking.beperkingen) - 1
    assert result.dropped == [
        "clients.0.relaties.0: an iWmo 2.1 Relatie needs a Contact",
        "clients.0.beschikking.beperkingen.0: the Beperking categorie is not in the iWmo 2.1 list"]
    assert paths_of(result.normalised) == ["clients.0.naam.voorletters", "clients.0.commentaar"]


def test_texts_longer_than_2_1_allows_are_dropped_not_cut(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    b.clients[0].contacten[0].adres.straatnaam = "Burgemeester van Nieuwenhuijsenstraat"  # 37 > 24
    b.clients[0].relaties[0].contacten.append(b.clients[0].relaties[0].contacten[0].model_copy())
    result = for_version(b, "wmo", "2.1")
    client = result.bericht.clients[0]
    assert client.contacten[0].adres.straatnaam is None
    assert client.contacten[0].adres.plaatsnaam == b.clients[0].contacten[0].adres.plaatsnaam
    assert len(client.relaties[0].contacten) == 1
    assert result.dropped == [
        "clients.0.contacten.0.adres.straatnaam: longer than the 24 characters iWmo 2.1 allows",
        "clients.0.relaties.0.contacten.1: an iWmo 2.1 Relatie has exactly one Contact"]


def test_a_toewijzing_without_beschikte_producten_gets_them_from_the_toegewezen(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    b.clients[0].beschikking.producten = []
    result = for_version(b, "wmo", "2.1")
    beschikt = result.bericht.clients[0].beschikking.producten
    toegewezen = b.clients[0].producten
    assert [(p.categorie, p.code, p.ingangsdatum, p.einddatum, p.omvang) for p in beschikt] == [
        (p.categorie, p.code, p.ingangsdatum, p.einddatum, p.omvang) for p in toegewezen]
    assert ("clients.0.beschikking.producten: none in the message; each toegewezen product written as BeschiktProduct"
            " as well (iWmo 2.1 requires BeschiktProducten)") in result.normalised


def test_required_product_facts_are_taken_from_the_header(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    b.clients[0].producten[0].aanbieder = None
    b.clients[0].producten[0].toewijzingsdatum = None
    b.clients[0].producten[0].beschikkingnummer = b.clients[0].beschikking.nummer
    result = for_version(b, "wmo", "2.1")
    product = result.bericht.clients[0].producten[0]
    assert product.aanbieder == b.ontvanger
    assert product.toewijzingsdatum == b.dagtekening
    assert product.beschikkingnummer is None, "the enclosing Beschikking carries it"
    assert paths_of(result.normalised) == ["clients.0.producten.0.aanbieder", "clients.0.producten.0.toewijzingsdatum",
                                          "clients.0.producten.0.beschikkingnummer"]


# --- 3.x as the target, and 3.x -> 2.x start/stop --------------------------------------------------------------------

def test_2_1_values_3_2_cannot_hold(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    client = b.clients[0]
    client.producten.append(client.producten[0].model_copy(deep=True))
    client.producten[0].reden_wijziging = "01"  # lapsed in 3.x (CS336): 14 replaces it
    client.producten[1].omvang = Omvang(volume=1, eenheid="04", frequentie="3")  # per vier weken: gone in 3.x
    result = for_version(b, "wmo", "3.2")
    out = result.bericht.clients[0].producten
    assert out[0].reden_wijziging == "14"
    assert out[1].omvang is None
    assert out[0].aanbieder is None and out[1].aanbieder is None, "the 3.x header Ontvanger is the aanbieder"
    assert "clients.0.producten.1.omvang: the Frequentie is not in the iWmo 3.2 list" in result.dropped
    assert {"clients.0.producten.0.reden_wijziging", "clients.0.producten.0.aanbieder"} <= set(
        paths_of(result.normalised))


def test_a_3_2_start_becomes_2_1_with_the_client_status_and_aanbieder(converter: Converter) -> None:
    b = load(converter, FIXTURES / "iwmo32" / "WMO305_correctie.xml")
    assert [p.status_aanlevering for p in b.clients[0].producten] == ["3", "1"]
    result = for_version(b, "wmo", "2.1")
    client = result.bericht.clients[0]
    assert client.status_aanlevering == "1", "a line delivered as new: the client is delivered"
    assert [p.aanbieder for p in client.producten] == [b.afzender, b.afzender]
    only_deleted = b.model_copy(deep=True)
    only_deleted.clients[0].producten = only_deleted.clients[0].producten[:1]
    assert for_version(only_deleted, "wmo", "2.1").bericht.clients[0].status_aanlevering == "9"


@pytest.mark.parametrize(("source", "wet", "versie", "code", "kept"), [
    ("iwmo32/WMO307_stop.xml", "wmo", "2.1", "31", True),  # verhuizing in both lists
    ("iwmo32/WMO307_stop.xml", "wmo", "2.1", "22", False),  # ended by the aanbieder: no 2.1 code
    ("iwmo32/WMO307_stop.xml", "wmo", "2.1", "19", False),  # same number, other meaning
    ("ijw32/JW307_stop.xml", "jw", "2.1", "02", True),
    ("ijw32/JW307_stop.xml", "jw", "2.1", "31", False),  # iJw 3.2: volgens plan; iWmo: verhuizing
])
def test_reden_beeindiging_keeps_a_code_only_where_it_means_the_same(converter: Converter, source: str, wet: str,
                                                                      versie: str, code: str, kept: bool) -> None:
    b = load(converter, FIXTURES / source)
    b.clients[0].producten[0].reden_beeindiging = code
    result = for_version(b, wet, versie)
    assert (result.bericht.clients[0].producten[0].reden_beeindiging == code) is kept
    assert ("clients.0.producten.0.reden_beeindiging" in paths_of(result.dropped)) is not kept


def test_statuses_and_verwijzers_outside_the_3_2_lists_are_dropped(converter: Converter) -> None:
    start = load(converter, FIXTURES / "ijw21" / "JW305_start.xml")
    start.clients[0].producten[0].status_aanlevering = "9"
    result = for_version(start, "jw", "3.2")
    assert result.bericht.clients[0].producten[0].status_aanlevering is None
    assert "clients.0.producten.0.status_aanlevering" in paths_of(result.dropped)
    verzoek = load(converter, FIXTURES / "ijw21" / "JW315_verzoek.xml")
    verzoek.clients[0].producten[0].verwijzer = Verwijzer(type="07")  # onbekend: gone from the iJw 3.2 list
    result = for_version(verzoek, "jw", "3.2")
    assert result.bericht.clients[0].producten[0].verwijzer is None
    assert "clients.0.producten.0.verwijzer: the Verwijzer type is not in the iJw 3.2 list" in result.dropped
    assert for_version(verzoek, "jw", "2.1").bericht == verzoek, "its own version: nothing to do"


def test_2_1_reden_wijziging_becomes_2_0_reden_intrekking_where_one_code_means_it(full_301: Bericht) -> None:
    b = full_301.model_copy(deep=True)
    b.clients[0].producten[0].reden_wijziging = "09"
    b.clients[0].producten[0].toewijzingsdatum = dt.date(2016, 2, 20)
    product = for_version(b, "wmo", "2.0").bericht.clients[0].producten[0]
    assert (product.reden_intrekking, product.reden_wijziging) == ("4", None)
    b.clients[0].producten[0].reden_wijziging = "05"  # could be 2 or 3: left for the writer to report
    assert for_version(b, "wmo", "2.0").bericht.clients[0].producten[0].reden_wijziging == "05"


# --- the lists agree with the dialects and the official 2.1 XSD ------------------------------------------------------

@pytest.mark.parametrize(("wet", "name"), [("wmo", "iwmo32-wmo301"), ("wmo", "iwmo32-wmo305"),
                                           ("wmo", "iwmo32-wmo307"), ("jw", "ijw32-jw307")])
def test_3_2_lists_are_the_dialects_value_maps(wet: str, name: str) -> None:
    mapping = shared_registry().get(name)
    target = VERSIONS[(wet, "3.2")]
    for map_name, codes in (("reden_wijziging", target.reden_wijziging), ("eenheid", target.eenheid),
                            ("frequentie", target.frequentie), ("status_aanlevering", target.status_aanlevering),
                            ("reden_beeindiging", target.reden_beeindiging)):
        if map_name in mapping.value_maps:
            assert set(mapping.value_maps[map_name].table) == codes, (name, map_name)


def test_2_1_lists_are_the_xsd_enumerations(reference_dir: Path) -> None:
    xsd = etree.parse(str(reference_dir / "iwmo21-xsd" / "basisschema.xsd"))
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}

    def enumeration(name: str) -> set[str]:
        return {e.get("value") for e in xsd.findall(f"xs:simpleType[@name='{name}']//xs:enumeration", ns)}

    target = VERSIONS[("wmo", "2.1")]
    assert enumeration("LDT_Eenheid") == target.eenheid
    assert enumeration("LDT_Frequentie") == target.frequentie
    assert enumeration("LDT_RedenWijziging") == target.reden_wijziging
    assert enumeration("LDT_BeperkingCategorie") == target.beperking
    assert enumeration("LDT_StatusAanlevering") == target.status_aanlevering
    assert enumeration("LDT_TypeVerwijzer") == target.type_verwijzer
    assert enumeration("LDT_RedenBeeindiging") == target.reden_beeindiging
