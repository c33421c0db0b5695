"""The way back under hostile input: every value ``convert --reverse`` takes from a zakLk01 is checked, and a bad
one is an error naming the element and telling the value by its shape, never a traceback, a silent default or a
value quietly dropped (docs/canonical-spec.md 9; the review of session 18).

The zaken are written by Overstap itself from the repository's synthetic fixtures (BSN 999900031), then changed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ingest import InputError
from gateway.pipeline import Converter

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
NS = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
      "BG": "http://www.egem.nl/StUF/sector/bg/0310"}
INITIATOR = "ZKN:object/ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
PERSON = "heeftAlsInitiator/gerelateerde/natuurlijkPersoon/"


@pytest.fixture(scope="module")
def zaak301() -> bytes:
    """The creeerZaak of the fixture that fills every element of a 2.1 301."""
    converter = Converter(shared_registry(), validate=False)
    return converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "301.xml").outputs[0].xml


def changed(xml: bytes, change: Callable[[etree._Element], None]) -> bytes:
    root = etree.fromstring(xml)
    change(root)
    return etree.tostring(root)


def at(path: str, text: str | None) -> Callable[[etree._Element], None]:
    """Set the text of the element at ``path`` (an XPath from the root) or of extraElement ``path``."""
    def change(root: etree._Element) -> None:
        found = root.xpath(path, namespaces=NS) if "/" in path else \
            root.xpath(f"//StUF:extraElement[@naam='{path}']", namespaces=NS)
        assert found, path
        found[0].text = text
    return change


def refused(xml: bytes, target: str = "iwmo21-wmo301") -> InputError:
    with pytest.raises(InputError) as caught:
        Converter(shared_registry(), validate=False).reverse(xml, target, "zaak.xml")
    return caught.value


@pytest.mark.parametrize(("path", "value", "field", "problem"), [
    (INITIATOR + "BG:geboortedatum", "20231345", PERSON + "geboortedatum", "the month is not 01-12"),
    (INITIATOR + "BG:geboortedatum", "19440230", PERSON + "geboortedatum", "the day does not exist in its month"),
    (INITIATOR + "BG:geboortedatum", "1944-07-01", PERSON + "geboortedatum",
     "found 10 characters in the form dddd-dd-dd"),
    ("ZKN:object/ZKN:startdatum", "00000000", "startdatum", "the month is not 01-12"),
    ("ZKN:object/ZKN:registratiedatum", "2017", "registratiedatum", "found 4 digits"),
    ("ZKN:object/ZKN:einddatumGepland", "2018-02-28", "einddatumGepland", "found 10 characters in the form dddd-dd-dd"),
    ("beschikking.einddatum", "20181301", "extraElement beschikking.einddatum", "the month is not 01-12"),
    ("beschikt.ingangsdatum", "abcdefgh", "extraElement beschikt.ingangsdatum", "found 8 letters"),
    ("toewijzing.tijdstip", "20170302256000", "extraElement toewijzing.tijdstip", "the hour is more than 23"),
    ("toewijzing.tijdstip", "2017030209300", "extraElement toewijzing.tijdstip", "found 13 digits"),
])
def test_a_date_or_time_that_is_none_is_refused_naming_its_element_not_its_digits(
        zaak301: bytes, path: str, value: str, field: str, problem: str) -> None:
    """An impossible date crashed (ValueError: month must be in 1..12); a malformed einddatum vanished, and the
    toewijzing went back without its end."""
    error = refused(changed(zaak301, at(path, value)))
    assert error.field == field
    assert error.message.endswith(problem)
    assert error.source == "zaak.xml" and error.line is not None
    assert value not in str(error)


def test_an_empty_or_nil_date_is_absent_and_then_what_the_dialect_requires_is_said(zaak301: bytes) -> None:
    error = refused(changed(zaak301, at(INITIATOR + "BG:geboortedatum", None)))
    assert "clients.0.geboortedatum: required in a toewijzing message" in error.message


@pytest.mark.parametrize(("path", "value", "field", "message"), [
    (INITIATOR + "BG:geslachtsaanduiding", "X", PERSON + "geslachtsaanduiding",
     f"{PERSON}geslachtsaanduiding must be one of O, M, V, found 'X'"),
    (INITIATOR + "BG:geslachtsaanduiding", "Vrouw", PERSON + "geslachtsaanduiding",
     f"{PERSON}geslachtsaanduiding must be one of O, M, V, found 5 letters"),
    ("ZKN:object/ZKN:heeftAlsUitvoerende/ZKN:gerelateerde/ZKN:nietNatuurlijkPersoon/BG:ann.identificatie",
     "12345678998031234", "heeftAlsUitvoerende/gerelateerde/nietNatuurlijkPersoon/ann.identificatie",
     "heeftAlsUitvoerende/gerelateerde/nietNatuurlijkPersoon/ann.identificatie must be an AGB code of 8 digits, "
     "zero-padded to at most 17, found 17 digits"),
])
def test_a_code_the_reader_does_not_know_is_refused_not_read_as_another(
        zaak301: bytes, path: str, value: str, field: str, message: str) -> None:
    """A geslachtsaanduiding 'X' came back as 0 (onbekend); an ann.identificatie of another party was cut to
    its last 8 digits and became the aanbieder."""
    error = refused(changed(zaak301, at(path, value)))
    assert (error.field, error.message) == (field, message)


def gone(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        node = root.xpath(path, namespaces=NS)[0]
        node.getparent().remove(node)
    return change


UITVOERENDE = "heeftAlsUitvoerende/gerelateerde/nietNatuurlijkPersoon/ann.identificatie"


@pytest.mark.parametrize(("change", "field", "message"), [
    (gone("ZKN:object/ZKN:isVan"), "isVan/gerelateerde/code",
     "isVan/gerelateerde/code is missing; it names no zaaktype of the catalogue (JWAANV, JWTOEW, WMOAANV, WMOTOEW): "
     "wet and kind of the message are unknown"),
    (at("ZKN:object/ZKN:isVan/ZKN:gerelateerde/ZKN:code", "WMOTOEZ"), "isVan/gerelateerde/code",
     "isVan/gerelateerde/code 7 letters names no zaaktype of the catalogue (JWAANV, JWTOEW, WMOAANV, WMOTOEW): "
     "wet and kind of the message are unknown"),
    (at("ZKN:object/ZKN:identificatie", "T200001"), "identificatie",
     "identificatie must start with the gemeentecode (4 digits), found 7 characters: letters and digits"),
    (gone("ZKN:object/ZKN:heeftAlsUitvoerende"), UITVOERENDE,
     f"{UITVOERENDE} is missing: the aanbieder of the toewijzing"),
    (at("ZKN:object/ZKN:registratiedatum", None), "registratiedatum",
     "registratiedatum is missing: it is the message's Dagtekening"),
])
def test_what_the_header_is_rebuilt_from_is_named_when_it_lacks(
        zaak301: bytes, change: Callable[[etree._Element], None], field: str, message: str) -> None:
    """Without a zaaktype the zaak was read as a wmo toewijzing (an aanvraag too); without an identificatie or an
    uitvoerende the error named the canonical afzender or ontvanger, which the zakLk01 does not have."""
    error = refused(changed(zaak301, change))
    assert (error.field, error.message) == (field, message)


def test_an_unknown_incomplete_date_indicator_is_refused(zaak301: bytes) -> None:
    def indicator(root: etree._Element) -> None:
        root.find(INITIATOR + "BG:geboortedatum", NS).set(f"{{{NS['StUF']}}}indOnvolledigeDatum", "Q")

    error = refused(changed(zaak301, indicator))
    assert error.field == PERSON + "geboortedatum/@indOnvolledigeDatum"
    assert error.message.endswith("must be one of D, M, J, V, found 'Q'")


def twice(path: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        node = root.xpath(path, namespaces=NS)[0]
        node.addnext(etree.fromstring(etree.tostring(node)))
    return change


@pytest.mark.parametrize(("path", "field", "message"), [
    (INITIATOR + "BG:inp.bsn", PERSON + "inp.bsn", f"{PERSON}inp.bsn occurs 2 times; a zaak has one"),
    ("ZKN:object/ZKN:heeftAlsInitiator", "heeftAlsInitiator", "heeftAlsInitiator occurs 2 times; a zaak has one"),
    ("ZKN:object/ZKN:einddatumGepland", "einddatumGepland", "einddatumGepland occurs 2 times; a zaak has one"),
    ("ZKN:object/ZKN:kenmerk[ZKN:bron='ToewijzingNummer']", "kenmerk",
     "two kenmerken with bron 16 letters; a zaak has one"),
    ("//StUF:extraElement[@naam='product.code']", "product.code",
     "extraElement 'product.code' occurs twice; it is registered for one value"),
    ("ZKN:object", "object", "only a creeerZaak (one ZKN:object with verwerkingssoort T) reads back into a message; "
                             "updates and statuses change a zaak the receiver holds"),
])
def test_a_repeated_element_is_refused_not_read_first_or_last(zaak301: bytes, path: str, field: str,
                                                              message: str) -> None:
    """The reader took the first (of two BSNs, two initiators, two objects) or the last (of two kenmerken) and
    dropped the other without a word."""
    error = refused(changed(zaak301, twice(path)))
    assert (error.field, error.message) == (field, message)


def test_an_extra_element_of_no_registered_name_is_refused(zaak301: bytes) -> None:
    def rename(root: etree._Element) -> None:
        root.xpath("//StUF:extraElement[@naam='client.communicatietaal']", namespaces=NS)[0].set("naam", "client.taal")

    error = refused(changed(zaak301, rename))
    assert error.field == "extraElement client.taal"
    assert error.message == ("extraElement 11 characters in the form aaaaaa.aaaa is no registered name of profile zkn "
                             "v2 on a zaak (gateway/zaken/extraelementen.yaml)")


def test_the_registered_names_the_reader_knows_are_the_registry_s() -> None:
    """A name registered later must be read back (or knowingly passed over) before the reader refuses it."""
    import yaml

    from gateway.ingest.zkn_v2 import RELATION_EXTRAS, REPEATED, ZAAK_EXTRAS

    path = Path(__file__).resolve().parents[1] / "gateway" / "zaken" / "extraelementen.yaml"
    registry = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert {e["naam"] for e in registry} == ZAAK_EXTRAS | RELATION_EXTRAS | {"vendor.NAME"}
    assert {e["naam"] for e in registry if e.get("repeat")} == REPEATED


def test_partnernaam_and_an_aanvraag_s_aanbieder_come_back(zaak301: bytes) -> None:
    """client.partnernaam was written but never read; an aanvraag zaak lost its aanbieder, so a 2.1 315 (which
    requires it) could not be written back at all."""
    converter = Converter(shared_registry(), validate=False)
    (back,) = converter.reverse(zaak301, "iwmo21-wmo301", "zaak.xml")
    naam = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0].naam
    assert naam.partnernaam is not None
    assert (naam.partnernaam.naam, naam.partnernaam.voorvoegsel) == ("Dijk", "van")

    fixture = (FIXTURES / "Full-WMO315_alle_elementen.xml").read_bytes()
    original = converter.convert(fixture, "315.xml")
    (back,) = converter.reverse(original.outputs[0].xml, "iwmo21-wmo315", "aanvraag.xml")
    # read from the zaak's uitvoerende, not implied by the version rules from the afzender (nothing normalised)
    assert back.unplaced == [] and back.one_way == [] and back.normalised == []
    product = converter.to_model(back.xml, "back.xml")[2].bericht.clients[0].producten[0]
    assert product.aanbieder == "98031234"
    assert product == original.bericht.clients[0].producten[0].model_copy(update={"commentaar": None})


V1 = """<ZKN:zakLk01 xmlns:ZKN="http://www.egem.nl/StUF/sector/zkn/0310" xmlns:StUF="http://www.egem.nl/StUF/StUF0301"
 xmlns:BG="http://www.egem.nl/StUF/sector/bg/0310"><ZKN:object StUF:verwerkingssoort="T"><StUF:extraElementen>
<StUF:extraElement naam="bericht.dagtekening">{dagtekening}</StUF:extraElement>
<StUF:extraElement naam="{naam}">05</StUF:extraElement></StUF:extraElementen>
<ZKN:heeftAlsInitiator><ZKN:gerelateerde><ZKN:natuurlijkPersoon><BG:inp.bsn>999900031</BG:inp.bsn>
</ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator></ZKN:object></ZKN:zakLk01>"""


@pytest.mark.parametrize(("dagtekening", "naam", "field", "message"), [
    ("20231345", "client.leefeenheid", "bericht.dagtekening",
     "bericht.dagtekening must be a date yyyymmdd: the month is not 01-12"),
    ("20230101", "client.relatie.0.soort", "client.relatie.0.soort",
     "extraElement 'client.relatie.0.soort': relatie number '0' is not 1..1; the items of a list are numbered from "
     "1 in order"),
    ("20230101", "client.relatie.100000.soort", "client.relatie.100000.soort",
     "extraElement 'client.relatie.100000.soort': relatie number 6 digits is not 1..1; the items of a list "
     "are numbered from 1 in order"),
])
def test_a_v1_zaklk01_s_dates_and_list_numbers_are_checked(dagtekening: str, naam: str, field: str,
                                                          message: str) -> None:
    """v1 numbers list items in the extraElement's name: number 0 crashed (IndexError), a number of 11 digits grew
    a list that long (MemoryError, or the machine's memory)."""
    error = refused(V1.format(dagtekening=dagtekening, naam=naam).encode())
    assert (error.field, error.message, error.line) == (field, message, 3 if naam == "client.leefeenheid" else 4)


def test_cli_reverse_of_a_folder_writes_the_good_and_names_each_bad_one(zaak301: bytes, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-good.xml").write_bytes(zaak301)
    (folder / "b-date.xml").write_bytes(changed(zaak301, at(INITIATOR + "BG:geboortedatum", "19441301")))
    (folder / "c-notes.txt").write_text("not a message\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", "--reverse", "--mapping", "iwmo21-wmo301", str(folder),
                                       "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    lines = result.output.splitlines()
    assert lines[0].startswith(f"ok   {folder / 'a-good.xml'}: -> iwmo21-wmo301-")
    assert f"FAIL {folder / 'b-date.xml'}:1: {PERSON}geboortedatum: {PERSON}geboortedatum must be a date " \
           "yyyymmdd: the month is not 01-12" in lines
    assert any(line.startswith(f"FAIL {folder / 'c-notes.txt'}:1: not well-formed XML") for line in lines)
    assert "Traceback" not in result.output and "19441301" not in result.output
    assert [p.name.startswith("iwmo21-wmo301-") for p in out.iterdir()] == [True]


@pytest.fixture(scope="module")
def envelope301() -> bytes:
    """The GGk Di01 whose payload is the fixture that fills every element of a 2.1 301."""
    converter = Converter(shared_registry(), profile="ggk", validate=False)
    return converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "301.xml").outputs[0].xml


def test_a_ggk_envelope_goes_back_as_its_payload_and_a_broken_one_is_named(envelope301: bytes) -> None:
    """The way back reads a GGk envelope's payload like any dialect message: every value of the fixture comes back;
    a payload that is no base64 is refused at parameters.bericht, telling nothing of its content."""
    import re

    converter = Converter(shared_registry(), validate=False)
    (back,) = converter.reverse(envelope301, "iwmo21-wmo301", "envelope.xml")
    assert (back.one_way, back.unplaced) == ([], [])
    direct = converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "301.xml").bericht
    assert converter.to_model(back.xml, "back.xml")[2].bericht == direct

    broken = re.sub(rb'(contentType="application/xml">)[^<]{8}', rb"\1****!!!!", envelope301)
    error = refused(broken)
    assert (error.field, error.source) == ("parameters.bericht", "zaak.xml")
    assert error.message.startswith("GGk parameters.bericht is not valid base64")


def test_a_retour_in_a_du01_is_refused_by_its_kind_not_written_as_a_toewijzing() -> None:
    """A Du01 answers a Di01 (its crossRefnummer points at it); the way back writes messages, it routes nothing, so
    the crossRefnummer is not looked up: what counts is that a 302 retour is no 301."""
    from gateway.mapping import ConversionError

    converter = Converter(shared_registry(), profile="ggk", validate=False)  # the Di01 first: the Du01 names its UUID
    converter.convert((FIXTURES / "Full-WMO301_alle_elementen.xml").read_bytes(), "301.xml")
    retour = (FIXTURES / "families" / "Full-WMO302_alle_elementen.xml").read_bytes()
    envelope = converter.convert(retour, "302.xml").outputs[0].xml
    assert b"envelopRetourbericht-ggk_Du01" in envelope
    with pytest.raises(ConversionError) as caught:
        Converter(shared_registry(), validate=False).reverse(envelope, "iwmo21-wmo301", "du01.xml")
    assert (caught.value.field, caught.value.message) == (
        "soort", "mapping 'iwmo21-wmo301' writes toewijzing messages; this message is a toewijzing-retour")
