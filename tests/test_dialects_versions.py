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
from lxml import etree
from pydantic import ValidationError

from gateway.mapping import ConversionError, Registry, engine
from gateway.mapping.rules import GroupRule
from gateway.model import Bericht
from gateway.pipeline import Conversion, Converter
from gateway.render.schemas import errors_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NS = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
      "BG": "http://www.egem.nl/StUF/sector/bg/0310"}
SAMPLES_20 = {
    "CasusB-02-WMO305_start.xml": "iwmo20-wmo305", "CasusE-01-WMO305_correctie.xml": "iwmo20-wmo305",
    "CasusF-01-WMO305_verwijderen.xml": "iwmo20-wmo305", "CasusF-02-WMO305_nieuweaanlevering.xml": "iwmo20-wmo305",
    "CasusB-04-WMO307_stop.xml": "iwmo20-wmo307",
}
"""The public iWmo 2.0 start/stop samples (the 301/315 ones belong to the core dialects' tests)."""
FIXTURE_DIALECTS = {
    "iwmo21/families/CasusB-02-WMO305_start.xml": "iwmo21-wmo305",
    "iwmo21/families/CasusE-01-WMO305_correctie.xml": "iwmo21-wmo305",
    "iwmo21/families/CasusB-04-WMO307_stop.xml": "iwmo21-wmo307",
    "iwmo21/families/CasusA-02-WMO302_retour_akkoord.xml": "iwmo21-wmo302",
    "iwmo21/families/CasusB-01-WMO302_retour_afgekeurd.xml": "iwmo21-wmo302",
    "iwmo21/families/Full-WMO302_alle_elementen.xml": "iwmo21-wmo302",
    "iwmo21/families/CasusA-01-WMO316_retour.xml": "iwmo21-wmo316",
    "iwmo32/WMO301_toewijzing_specifiek.xml": "iwmo32-wmo301",
    "iwmo32/WMO301_toewijzing_budget.xml": "iwmo32-wmo301",
    "iwmo32/WMO301_wijziging_verkorting.xml": "iwmo32-wmo301",
    "iwmo32/WMO315_verzoek.xml": "iwmo32-wmo315",
    "iwmo32/WMO305_start.xml": "iwmo32-wmo305",
    "iwmo32/WMO305_correctie.xml": "iwmo32-wmo305",
    "iwmo32/WMO307_stop.xml": "iwmo32-wmo307",
    "iwmo32/WMO317_verzoek_wijziging.xml": "iwmo32-wmo317",
    "iwmo32/WMO319_verzoek_antwoord.xml": "iwmo32-wmo319",
    "ijw32/JW301_toewijzing.xml": "ijw32-jw301",
    "ijw32/JW315_verzoek.xml": "ijw32-jw315",
    "ijw32/JW305_start.xml": "ijw32-jw305",
    "ijw32/JW307_stop.xml": "ijw32-jw307",
    "ijw32/JW317_verzoek_wijziging.xml": "ijw32-jw317",
    "ijw32/JW319_verzoek_antwoord.xml": "ijw32-jw319",
    "ijw21/JW301_toewijzing.xml": "ijw21-jw301",
    "ijw21/JW315_verzoek.xml": "ijw21-jw315",
    "ijw21/JW305_start.xml": "ijw21-jw305",
    "ijw21/JW307_stop.xml": "ijw21-jw307",
    "ijw21/JW302_retour.xml": "ijw21-jw302",
    "ijw21/JW316_retour.xml": "ijw21-jw316",
}
"""Every fixture of this work and the dialect detection must pick for it."""
VERSION_DIALECTS = frozenset(SAMPLES_20.values()) | frozenset(FIXTURE_DIALECTS.values())


NOON = dt.datetime(2026, 12, 4, 12, 0, 0)
HEEN = {
    "CasusB-02-WMO305_start.xml": "20:CasusB-01-WMO301_toewijzing.xml",
    "CasusB-04-WMO307_stop.xml": "20:CasusB-01-WMO301_toewijzing.xml",
    "CasusE-01-WMO305_correctie.xml": "20:0385:CasusB-01-WMO301_toewijzing.xml",
    "CasusF-01-WMO305_verwijderen.xml": "20:0385:CasusB-01-WMO301_toewijzing.xml",
    "CasusF-02-WMO305_nieuweaanlevering.xml": "20:0385:CasusB-01-WMO301_toewijzing.xml",
    "iwmo21/families/CasusB-02-WMO305_start.xml": "iwmo21/CasusB-01-WMO301_toewijzing.xml",
    "iwmo21/families/CasusB-04-WMO307_stop.xml": "iwmo21/CasusB-01-WMO301_toewijzing.xml",
    "iwmo21/families/CasusE-01-WMO305_correctie.xml": "0385:iwmo21/CasusB-01-WMO301_toewijzing.xml",
    "iwmo32/WMO305_start.xml": "iwmo32/WMO301_toewijzing_specifiek.xml",
    "iwmo32/WMO305_correctie.xml": "iwmo32/WMO301_toewijzing_specifiek.xml",
    "iwmo32/WMO307_stop.xml": "iwmo32/WMO301_toewijzing_specifiek.xml",
    "ijw32/JW305_start.xml": "ijw32/JW301_toewijzing.xml",
    "ijw32/JW307_stop.xml": "ijw32/JW301_toewijzing.xml",
    "ijw21/JW305_start.xml": "ijw21/JW301_toewijzing.xml",
    "ijw21/JW307_stop.xml": "ijw21/JW301_toewijzing.xml",
    "iwmo32/WMO319_verzoek_antwoord.xml": "iwmo32/WMO315_verzoek.xml",
    "ijw32/JW319_verzoek_antwoord.xml": "ijw32/JW317_verzoek_wijziging.xml",
}
"""A start or stop is a status on its toewijzing's zaak: the 301 that creates it; a 319 closes the aanvraagzaken
of the 315 or 317 it answers. The public E and F cases
are about gemeente 0385, whose 301 is not among the samples: the B-01 toewijzing sent by 0385 stands in."""


@pytest.fixture()
def converter(reference_dir: Path, registry: Registry) -> Converter:
    """A fresh converter with its own in-memory zaak ledger per test; the module's registry is
    shared (it holds only the mappings; reading them again cost 0.3 s of CPU a test)."""
    return Converter(registry, validate=True, clock=lambda: NOON)


def prime(converter: Converter, name: str, reference_dir: Path | None = None) -> None:
    """Convert the 301 a start or stop belongs to (HEEN), so its zaak exists in the converter's ledger."""
    heen = HEEN.get(name)
    if heen is None:
        return
    gemeente = None
    if heen.startswith("20:"):
        heen = heen[3:]
        if heen.startswith("0385:"):
            gemeente, heen = "0385", heen[5:]
        assert reference_dir is not None
        path = reference_dir / "samples" / "iwmo20-xml" / heen
    else:
        if heen.startswith("0385:"):
            gemeente, heen = "0385", heen[5:]
        path = fixture(heen)
    text = path.read_text(encoding="utf-8")
    if gemeente:
        text = text.replace(">0384<", f">{gemeente}<")
    assert convert(converter, path, text).outputs


def fixture(name: str) -> Path:
    return FIXTURES / name


def convert(converter: Converter, path: Path, text: str | None = None) -> Conversion:
    data = text.encode("utf-8") if text is not None else path.read_bytes()
    return converter.convert(data, path.name)


def zaak(conversion: Conversion, index: int = 0) -> etree._Element:
    """The zakLk01 of one client, parsed."""
    return etree.fromstring(conversion.outputs[index].xml)


def new_state(root: etree._Element) -> etree._Element:
    """The ZAK object with the state after the kennisgeving (the last one; W messages carry old + new)."""
    return root.findall("ZKN:object", NS)[-1]


def dates(root: etree._Element) -> dict[str, str | None]:
    obj = new_state(root)
    return {tag: obj.findtext(f"ZKN:{tag}", namespaces=NS)
            for tag in ("startdatum", "einddatumGepland", "einddatum")}


def extra(root: etree._Element) -> dict[str, str]:
    return {e.get("naam"): e.text or "" for e in new_state(root).iterfind("StUF:extraElementen/StUF:extraElement", NS)}


def mutatiesoort(root: etree._Element) -> str:
    return root.findtext("ZKN:parameters/StUF:mutatiesoort", namespaces=NS) or ""


def status(root: etree._Element) -> tuple[str | None, str | None, str | None]:
    """(statustype omschrijving, datumStatusGezet, toelichting) of an actualiseerZaakstatus."""
    heeft = new_state(root).find("ZKN:heeft", NS)
    assert heeft is not None
    return (heeft.findtext("ZKN:gerelateerde/ZKN:omschrijving", namespaces=NS),
            heeft.findtext("ZKN:datumStatusGezet", namespaces=NS), heeft.findtext("ZKN:toelichting", namespaces=NS))


def zaaktype(root: etree._Element) -> str:
    return new_state(root).findtext("ZKN:isVan/ZKN:gerelateerde/ZKN:code", namespaces=NS) or ""


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


# -- every sample and fixture: detected, converted, schema-valid, nothing unmapped ----------------


def _check(conversion: Conversion, expected: str) -> None:
    assert conversion.mapping.name == expected
    assert conversion.unmapped == [], [u.path for u in conversion.unmapped]
    if conversion.bericht.soort.endswith("-retour"):
        assert conversion.outputs == [] and conversion.outcome.startswith("no-op: retour")
    else:
        assert conversion.outputs, "no zakLk01 rendered"
    for out in conversion.outputs:  # Converter(validate=True) checked already; say it once more, by hand
        assert errors_of(etree.fromstring(out.xml)) == []
    # The header agrees with the dialect (the model has checked berichtcode against wet and soort).
    assert (conversion.bericht.wet, conversion.bericht.versie) == (conversion.mapping.wet, conversion.mapping.versie)


@pytest.mark.parametrize(("name", "expected"), sorted(SAMPLES_20.items()))
def test_public_20_start_stop_samples_convert(name: str, expected: str, converter: Converter,
                                               reference_dir: Path) -> None:
    prime(converter, name, reference_dir)
    _check(convert(converter, reference_dir / "samples" / "iwmo20-xml" / name), expected)


@pytest.mark.parametrize(("name", "expected"), sorted(FIXTURE_DIALECTS.items()))
def test_fixtures_convert(name: str, expected: str, converter: Converter) -> None:
    prime(converter, name)
    _check(convert(converter, fixture(name)), expected)


def test_every_version_dialect_has_a_sample_or_fixture(converter: Converter) -> None:
    root = Path(__file__).resolve().parents[1] / "dialects"
    found = [m for m in converter.registry.all() if Path(m.file).is_relative_to(root)]
    mine = {m.name for m in found
            if Path(m.file).parent.name in ("iwmo32", "ijw32", "ijw21")
            or (Path(m.file).parent.name in ("iwmo20", "iwmo21") and m.bericht in ("302", "305", "307", "316"))}
    assert mine == VERSION_DIALECTS


def test_the_21_fixtures_validate_against_the_21_xsds(reference_dir: Path) -> None:
    files = sorted((FIXTURES / "iwmo21" / "families").glob("*.xml"))
    assert len(files) == 7
    for path in files:
        assert errors_of(etree.parse(str(path)).getroot()) == [], path.name


# -- 305 start: Begindatum opens the zaak; StatusAanlevering 3 takes a line back ------------------


def test_20_start_golden_values(converter: Converter, reference_dir: Path) -> None:
    prime(converter, "CasusB-02-WMO305_start.xml", reference_dir)
    conversion = convert(converter, reference_dir / "samples" / "iwmo20-xml" / "CasusB-02-WMO305_start.xml")
    client = conversion.bericht.clients[0]
    product = client.producten[0]
    assert (conversion.bericht.soort, conversion.bericht.berichtcode) == ("start", "418")
    assert (client.clientnummer, client.status_aanlevering) == ("123456782", "1")
    assert product.beschikkingnummer == "658721123"
    assert (product.ingangsdatum, product.begindatum) == (dt.date(2016, 3, 7), dt.date(2016, 3, 10))
    assert product.omvang is not None and (product.omvang.volume, product.omvang.eenheid) == (22500, "83")
    assert product.status_aanlevering == "1" and product.einddatum is None
    (out,) = conversion.outputs  # a status on B-01's zaak, never a zaak of its own
    assert out.operation == "actualiseerZaakstatus" and mutatiesoort(zaak(conversion)) == "W"
    assert status(zaak(conversion)) == ("Levering gestart", "20160310000000000", None)


@pytest.mark.parametrize(("source", "begins", "startdatum"), [
    ("20:CasusE-01-WMO305_correctie.xml", ["2016-03-10", "2016-03-21"], "20160321"),
    ("iwmo21/families/CasusE-01-WMO305_correctie.xml", ["2016-03-10", "2016-03-21"], "20160321"),
    ("iwmo32/WMO305_correctie.xml", ["2023-03-06", "2023-03-08"], "20230308"),
])
def test_a_start_correction_counts_only_the_new_line(source: str, begins: list[str], startdatum: str,
                                                     converter: Converter, reference_dir: Path) -> None:
    path = (reference_dir / "samples" / "iwmo20-xml" / source[3:]) if source.startswith("20:") else fixture(source)
    prime(converter, source.removeprefix("20:"), reference_dir)
    conversion = convert(converter, path)
    lines = conversion.bericht.clients[0].producten
    assert [(p.begindatum.isoformat() if p.begindatum else None, p.status_aanlevering) for p in lines] == [
        (begins[0], "3"), (begins[1], "1")]
    withdrawn, started = (status(zaak(conversion, i)) for i in range(2))
    first = begins[0].replace("-", "")
    assert withdrawn == ("Start levering ingetrokken", first + "000000000",  # the start of its day: the zaak
                         f"Aanlevering start levering per {first} verwijderd (StatusAanlevering 3)")  # has none
    assert started == ("Levering gestart", startdatum + "000000000", None)


def test_a_start_that_only_deletes_opens_nothing(converter: Converter, reference_dir: Path) -> None:
    prime(converter, "CasusF-01-WMO305_verwijderen.xml", reference_dir)
    conversion = convert(converter, reference_dir / "samples" / "iwmo20-xml" / "CasusF-01-WMO305_verwijderen.xml")
    assert conversion.bericht.clients[0].status_aanlevering == "9"  # client data unchanged
    assert [p.status_aanlevering for p in conversion.bericht.clients[0].producten] == ["3"]
    assert [o.operation for o in conversion.outputs] == ["actualiseerZaakstatus"]  # no zaak, no startdatum
    assert status(zaak(conversion)) == ("Start levering ingetrokken", "20160310000000000",
                                        "Aanlevering start levering per 20160310 verwijderd (StatusAanlevering 3)")


# -- 307 stop: Einddatum and RedenBeeindiging, and the zaak is closed -------------------------------


@pytest.mark.parametrize(("source", "reden", "einddatum", "wet"), [
    ("20:CasusB-04-WMO307_stop.xml", "02", "2016-10-02", "wmo"),
    ("iwmo21/families/CasusB-04-WMO307_stop.xml", "02", "2016-10-02", "wmo"),
    ("iwmo32/WMO307_stop.xml", "22", "2023-06-02", "wmo"),
    ("ijw32/JW307_stop.xml", "35", "2023-08-18", "jw"),
    ("ijw21/JW307_stop.xml", "02", "2016-10-02", "jw"),
])
def test_stop_golden_values(source: str, reden: str, einddatum: str, wet: str, converter: Converter,
                            reference_dir: Path) -> None:
    path = (reference_dir / "samples" / "iwmo20-xml" / source[3:]) if source.startswith("20:") else fixture(source)
    prime(converter, source.removeprefix("20:"), reference_dir)
    conversion = convert(converter, path)
    assert (conversion.bericht.soort, conversion.bericht.wet) == ("stop", wet)
    product = conversion.bericht.clients[0].producten[0]
    assert product.reden_beeindiging == reden
    assert product.einddatum == dt.date.fromisoformat(einddatum)
    assert product.begindatum is not None and product.omvang is None
    assert [o.operation for o in conversion.outputs] == ["actualiseerZaakstatus", "updateZaak",
                                                         "actualiseerZaakstatus"]
    end = einddatum.replace("-", "")
    assert status(zaak(conversion, 0)) == ("Levering gestopt", end + "000000000", f"RedenBeeindiging {reden}")
    assert dates(zaak(conversion, 1))["einddatum"] == end
    assert status(zaak(conversion, 2))[:2] == ("Afgehandeld", end + "000000001")  # the stop's day, just after


# -- 3.x toewijzing: ToewijzingNummer, budget, aspecifiek, wijziging -----------------------------------


def test_32_toewijzing_golden_values(converter: Converter) -> None:
    conversion = convert(converter, fixture("iwmo32/WMO301_toewijzing_specifiek.xml"))
    bericht = conversion.bericht
    assert (bericht.versie, bericht.xsd_versie_basisschema, bericht.xsd_versie_bericht) == ("3.2", "1.2.0", "1.0.2")
    client = bericht.clients[0]
    assert client.beschikking is None
    assert client.naam is not None and client.naam.partnernaam is not None
    assert (client.naam.geslachtsnaam.naam, client.naam.partnernaam.voorvoegsel) == ("Vermeulen", "van den")
    assert (client.communicatievorm, client.communicatietaal) == ("1", "Fries")
    assert client.relaties[0].contacten[0].telefoon[0].nummer == "0612345678"
    product = client.producten[0]
    assert (product.toewijzingnummer, product.referentie_aanbieder, product.code) == ("320001", "VZ-2023-0001",
                                                                                       "02A01")
    assert product.aanbieder is None  # 3.x has no Aanbieder on the line: it is the header Ontvanger
    root = zaak(conversion)
    assert new_state(root).findtext("ZKN:identificatie", namespaces=NS) == "0384T320001"
    kenmerk = [(k.findtext("ZKN:kenmerk", namespaces=NS), k.findtext("ZKN:bron", namespaces=NS))
               for k in new_state(root).findall("ZKN:kenmerk", NS)]
    assert kenmerk == [("320001", "ToewijzingNummer"), ("VZ-2023-0001", "ReferentieAanbieder")]
    assert "bericht.xsd_versie_bericht" not in extra(root)  # a header fact, not zaak data


def test_32_budget_and_aspecifieke_toewijzing(converter: Converter) -> None:
    conversion = convert(converter, fixture("iwmo32/WMO301_toewijzing_budget.xml"))
    generiek, aspecifiek = conversion.bericht.clients[0].producten
    assert (generiek.budget, generiek.categorie, generiek.omvang) == (150000, None, None)
    assert generiek.einddatum == dt.date(2024, 2, 29)
    assert (aspecifiek.categorie, aspecifiek.code, aspecifiek.budget, aspecifiek.einddatum) == ("01", None, None, None)
    generiek_zaak, aspecifiek_zaak = zaak(conversion, 0), zaak(conversion, 1)  # one zaak per toewijzing
    assert extra(generiek_zaak)["product.budget"] == "150000"
    assert dates(generiek_zaak) == {"startdatum": "20230301", "einddatumGepland": "20240229", "einddatum": None}
    assert dates(aspecifiek_zaak)["einddatumGepland"] is None  # open-ended
    assert extra(aspecifiek_zaak)["product.categorie"] == "01" and "product.code" not in extra(aspecifiek_zaak)


def test_32_wijziging_updates_the_toewijzing_zaak(converter: Converter) -> None:
    original = zaak(convert(converter, fixture("iwmo32/WMO301_toewijzing_specifiek.xml")))
    conversion = convert(converter, fixture("iwmo32/WMO301_wijziging_verkorting.xml"))
    product = conversion.bericht.clients[0].producten[0]
    assert (product.reden_wijziging, product.einddatum) == ("05", dt.date(2023, 6, 30))
    root = zaak(conversion)
    assert mutatiesoort(root) == "W" and conversion.outputs[0].operation == "updateZaak"
    ident = "ZKN:identificatie"
    assert new_state(root).findtext(ident, namespaces=NS) == new_state(original).findtext(ident, namespaces=NS)
    assert dates(root)["einddatumGepland"] == "20230630"
    old = root.findall("ZKN:object", NS)[0]
    assert old.findtext("ZKN:einddatumGepland", namespaces=NS) == dates(original)["einddatumGepland"]


# -- 315 verzoek in 3.x, iJw particulars ----------------------------------------------------------------


def test_32_verzoek_golden_values(converter: Converter) -> None:
    client = convert(converter, fixture("iwmo32/WMO315_verzoek.xml")).bericht.clients[0]
    assert client.commentaar == "Client woont sinds januari zelfstandig."
    specifiek, budget = client.producten
    assert specifiek.verwijzer is not None and budget.verwijzer is not None
    assert (specifiek.verwijzer.type, specifiek.verwijzer.zorgverlenercode, specifiek.verwijzer.naam) == (
        "02", "01234567", None)
    assert (specifiek.beschikkingnummer, specifiek.beschikking_ingangsdatum) == ("230000417", dt.date(2023, 1, 15))
    assert (specifiek.ingangsdatum, specifiek.einddatum) == (dt.date(2023, 3, 1), dt.date(2023, 12, 31))
    assert (budget.budget, budget.categorie, budget.verwijzer.naam) == (150000, None, "Diemen")


def test_ijw32_particulars(converter: Converter) -> None:
    toewijzing = convert(converter, fixture("ijw32/JW301_toewijzing.xml"))
    assert (toewijzing.bericht.wet, toewijzing.bericht.berichtcode) == ("jw", "436")
    lines = toewijzing.bericht.clients[0].producten
    assert [(p.categorie, p.code) for p in lines] == [("45", "45A01"), ("54", None)]
    assert zaaktype(zaak(toewijzing)) == "JWTOEW"
    assert new_state(zaak(toewijzing)).findtext("ZKN:omschrijving", namespaces=NS) == "Jeugdwet toewijzing 45A01"
    verzoek = convert(converter, fixture("ijw32/JW315_verzoek.xml")).bericht.clients[0]
    assert verzoek.gezagsdrager_bekend == "1"
    assert [p.categorie for p in verzoek.producten] == ["45", "54"]
    assert verzoek.producten[1].verwijzer is not None and verzoek.producten[1].verwijzer.zorgverlenercode == "07654321"


def test_ijw21_particulars(converter: Converter) -> None:
    conversion = convert(converter, fixture("ijw21/JW301_toewijzing.xml"))
    bericht = conversion.bericht
    assert (bericht.wet, bericht.berichtcode, bericht.versie) == ("jw", "436", "2.1")
    assert bericht.clients[0].beschikking is not None
    assert [(p.categorie, p.code) for p in bericht.clients[0].producten] == [("32", "32A01")]
    assert zaaktype(zaak(conversion)) == "JWTOEW"


# -- 317 verzoek om wijziging ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "groups", "wet", "referentie", "reden"), [
    ("iwmo32/WMO317_verzoek_wijziging.xml", ["ongewijzigd", "te-wijzigen", "nieuw"], "wmo", "VOW-2023-0001", "2"),
    ("ijw32/JW317_verzoek_wijziging.xml", ["ongewijzigd", "te-wijzigen", "nieuw"], "jw", "JZ-VOW-2023-0001", "1"),
])
def test_317_golden_values(name: str, groups: list[str], wet: str, referentie: str, reden: str,
                           converter: Converter) -> None:
    conversion = convert(converter, fixture(name))
    bericht = conversion.bericht
    assert (bericht.soort, bericht.wet) == ("verzoek-wijziging", wet)
    client = bericht.clients[0]
    assert client.naam is None and client.geboortedatum is None
    assert (client.referentie_aanbieder, client.reden_verzoek) == (referentie, reden)
    assert [p.verzoek_groep for p in client.producten] == groups
    ongewijzigd, te_wijzigen, nieuw = client.producten
    assert ongewijzigd.toewijzingnummer and ongewijzigd.ingangsdatum is None and ongewijzigd.omvang is None
    assert te_wijzigen.toewijzingnummer and te_wijzigen.ingangsdatum and te_wijzigen.omvang is not None
    assert nieuw.toewijzingnummer is None and nieuw.ingangsdatum is not None
    assert len(conversion.outputs) == 2  # an aanvraagzaak per line that asks for something; ongewijzigd: none
    root = zaak(conversion)
    person = new_state(root).find("ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon", NS)
    assert person.findtext("BG:inp.bsn", namespaces=NS) == client.bsn  # the 317 names its client by BSN alone
    assert person.find("BG:geslachtsnaam", NS).get(f"{{{NS['StUF']}}}noValue") == "waardeOnbekend"
    assert zaaktype(root) == ("WMOAANV" if wet == "wmo" else "JWAANV")
    assert extra(root)["aanvraag.verzoek_groep"] == "te-wijzigen"
    assert extra(zaak(conversion, 1))["aanvraag.verzoek_groep"] == "nieuw"


def test_jw317_new_product_is_a_budget(converter: Converter) -> None:
    nieuw = convert(converter, fixture("ijw32/JW317_verzoek_wijziging.xml")).bericht.clients[0].producten[2]
    assert (nieuw.budget, nieuw.categorie, nieuw.einddatum) == (250000, None, dt.date(2023, 12, 31))


# -- retours: RetourCodes at every level, and the retour updates its heenbericht's zaak ---------------


def test_302_accepted_retour(converter: Converter) -> None:
    conversion = convert(converter, fixture("iwmo21/families/CasusA-02-WMO302_retour_akkoord.xml"))
    bericht = conversion.bericht
    assert (bericht.soort, bericht.berichtcode) == ("toewijzing-retour", "415")
    assert (bericht.identificatie, bericht.identificatie_retour) == ("1d8d1f0852bf", "ovs302a02001")
    assert (bericht.dagtekening_retour, bericht.retourcodes) == (dt.date(2016, 2, 21), ["0200"])
    assert (bericht.afzender, bericht.ontvanger) == ("0384", "98025566")  # the heenbericht's, not swapped
    client = bericht.clients[0]
    assert client.retourcodes == ["0200"]
    assert client.relaties[0].retourcodes == ["0200"] and client.relaties[0].contacten[0].retourcodes == ["0200"]
    assert client.contacten[0].retourcodes == ["0200"]
    assert client.beschikking is not None and client.beschikking.retourcodes == ["0200"]
    assert client.beschikking.producten[0].retourcodes == ["0200"] and client.producten[0].retourcodes == ["0200"]


def test_302_rejected_retour_keeps_each_levels_codes(converter: Converter) -> None:
    conversion = convert(converter, fixture("iwmo21/families/CasusB-01-WMO302_retour_afgekeurd.xml"))
    client = conversion.bericht.clients[0]
    assert conversion.bericht.retourcodes == []
    assert client.retourcodes == ["8002"]
    assert client.beschikking is not None and client.beschikking.retourcodes == ["8002"]
    assert client.producten[0].retourcodes == ["0582", "S050"]
    assert client.contacten[0].retourcodes == ["0200"]
    assert conversion.outputs == []  # a retour changes no zaak (docs/canonical-spec.md 3)


def test_302_full_retour_has_codes_on_beperkingen(converter: Converter) -> None:
    client = convert(converter, fixture("iwmo21/families/Full-WMO302_alle_elementen.xml")).bericht.clients[0]
    assert client.beschikking is not None
    beperking = client.beschikking.beperkingen[0]
    assert beperking.retourcodes == ["0200", "D004"]
    assert beperking.scores[0].retourcodes == ["S035"]


@pytest.mark.parametrize(("retour", "heen"), [
    ("iwmo21/families/CasusA-02-WMO302_retour_akkoord.xml", "iwmo21/CasusA-02-WMO301_toewijzing.xml"),
    ("iwmo21/families/CasusB-01-WMO302_retour_afgekeurd.xml", "iwmo21/CasusB-01-WMO301_toewijzing.xml"),
    ("iwmo21/families/CasusA-01-WMO316_retour.xml", "iwmo21/CasusA-01-WMO315_verzoek.xml"),
])
def test_a_retour_changes_no_zaak(retour: str, heen: str, converter: Converter) -> None:
    assert convert(converter, fixture(heen)).outputs[0].operation == "creeerZaak"
    result = convert(converter, fixture(retour))
    assert result.outputs == []
    soort = {"WMO302": "toewijzing-retour", "WMO316": "verzoek-retour"}[retour.split("-")[2].split("_")[0]]
    assert result.outcome == (f"no-op: retour ({soort}), no zaak mutation: a retour answers its heenbericht and "
                              "changes no zaak")


def test_316_retour_golden_values(converter: Converter) -> None:
    bericht = convert(converter, fixture("iwmo21/families/CasusA-01-WMO316_retour.xml")).bericht
    assert (bericht.soort, bericht.berichtcode, bericht.identificatie_retour) == ("verzoek-retour", "445",
                                                                                  "ovs316a01001")
    assert bericht.clients[0].retourcodes == ["0200"] and bericht.clients[0].producten[0].retourcodes == ["0200"]
    assert bericht.clients[0].producten[0].referentie_aanbieder == "VZ-2016-0001"


def test_a_retour_rejected_at_header_level_maps_but_has_no_zaak(converter: Converter) -> None:
    path = fixture("iwmo21/families/CasusA-01-WMO316_retour.xml")
    text = path.read_text(encoding="utf-8")
    start, end = text.index("\t<wmo316:Clienten>"), text.index("</wmo316:Clienten>") + len("</wmo316:Clienten>\n")
    header_only = text[:start] + text[end:]
    codes = "<wmo316:RetourCodes><wmo316:RetourCode>9001</wmo316:RetourCode></wmo316:RetourCodes>"
    header_only = header_only.replace("</wmo316:DagtekeningRetour>", "</wmo316:DagtekeningRetour>" + codes)
    assert errors_of(etree.fromstring(header_only.encode())) == []  # valid 2.1: Clienten is optional in a retour
    _source, mapping, result = converter.to_model(header_only.encode(), path.name)
    assert mapping.name == "iwmo21-wmo316"
    assert (result.bericht.clients, result.bericht.retourcodes) == ([], ["9001"])
    assert converter.render(result.bericht, mapping) == []  # a retour: no zaak mutation, with or without clients


# -- code lists per version: a code of another version is refused, naming the value map --------------


OTHER_VERSION_CODES = [
    ("iwmo32/WMO307_stop.xml", "<wmo307:RedenBeeindiging>22<", "<wmo307:RedenBeeindiging>32<", "reden_beeindiging"),
    ("iwmo21/families/CasusB-04-WMO307_stop.xml", "<wmo307:RedenBeeindiging>02<", "<wmo307:RedenBeeindiging>22<",
     "reden_beeindiging"),
    ("iwmo32/WMO301_wijziging_verkorting.xml", "<wmo301:RedenWijziging>05<", "<wmo301:RedenWijziging>01<",
     "reden_wijziging"),
    ("iwmo32/WMO305_start.xml", "<wmo305:StatusAanlevering>1<", "<wmo305:StatusAanlevering>2<",
     "status_aanlevering"),
    ("iwmo32/WMO315_verzoek.xml", "<iwmo:Frequentie>2<", "<iwmo:Frequentie>3<", "frequentie"),
    ("ijw32/JW315_verzoek.xml", "<ijw:Type>01<", "<ijw:Type>07<", "type_verwijzer"),
]


@pytest.mark.parametrize("generated", [True, False], ids=["generated-walk", "interpreted-engine"])
@pytest.mark.parametrize(("name", "old", "new", "value_map"), OTHER_VERSION_CODES)
def test_a_code_from_another_version_is_refused(name: str, old: str, new: str, value_map: str, generated: bool,
                                                converter: Converter, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused by the generated walk and by the interpreted engine (traced runs and ``explain`` use it)."""
    monkeypatch.setattr(engine, "GENERATED", generated)
    path = fixture(name)
    text = path.read_text(encoding="utf-8")
    assert old in text
    with pytest.raises(ConversionError, match=f"not in value map '{value_map}'"):
        convert(converter, path, text.replace(old, new, 1))


@pytest.mark.parametrize(("name", "old", "new"), [
    ("ijw32/JW307_stop.xml", "<jw307:RedenBeeindiging>35<", "<jw307:RedenBeeindiging>32<"),  # JZ588: by client
    ("iwmo32/WMO315_verzoek.xml", "<iwmo:Type>01<", "<iwmo:Type>07<"),  # iWmo 3.2 still knows 07
])
def test_the_same_code_is_fine_where_its_list_has_it(name: str, old: str, new: str, converter: Converter) -> None:
    path = fixture(name)
    prime(converter, name)
    conversion = convert(converter, path, path.read_text(encoding="utf-8").replace(old, new, 1))
    assert conversion.outputs
