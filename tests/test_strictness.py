"""strictness: strict|lenient, source_schema: and the dialect-debt counts per vendor and rule."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.ingest import read
from gateway.mapping import ConversionError, DialectDebt, MappingError, Registry, map_source
from gateway.mapping.debt import rule_key
from gateway.mapping.result import Warning_
from gateway.pipeline import Converter
from gateway.reference import available

FIXTURE = Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
needs_reference = pytest.mark.skipif(not available(), reason="reference dir (official XSDs) absent")

MAPPING = """\
overstap-mapping: 1
name: {name}
wet: wmo
bericht: "301"
versie: "2.1"
strictness: {strictness}
{schema}
match:
  namespace: http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1
  root: Bericht
namespaces:
  m: http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1
  i: http://www.istandaarden.nl/iwmo/2_1/basisschema/schema/2_1
ignore:
  - {{path: //m:Relaties, reason: not needed for this test}}
  - {{path: //m:Contactgegevens, reason: not needed for this test}}
  - {{path: //m:BeschiktProducten, reason: not needed for this test}}
rules:
  wet: {{constant: wmo}}
  soort: {{constant: toewijzing}}
  berichtcode: m:Header/m:BerichtCode
  versie: {{paths: [m:Header/m:BerichtVersie, m:Header/m:BerichtSubversie], transform: {{join: "."}}}}
  afzender: m:Header/m:Afzender
  ontvanger: m:Header/m:Ontvanger
  identificatie: m:Header/m:BerichtIdentificatie/i:Identificatie
  dagtekening: m:Header/m:BerichtIdentificatie/i:Dagtekening
  clients:
    each: m:Clienten/m:Client
    rules:
      bsn: m:Bsn
      geboortedatum: m:Geboortedatum/i:Datum
      geslacht: m:Geslacht
      naam.geslachtsnaam.naam: m:Naam/i:Geslachtsnaam/i:Naam
      naam.voorletters: m:Naam/i:Voorletters
      naam.naamgebruik: m:Naam/i:NaamGebruik
      beschikking.nummer: m:Beschikking/m:BeschikkingNummer
      beschikking.afgiftedatum: m:Beschikking/m:Afgiftedatum
      beschikking.ingangsdatum: m:Beschikking/m:Ingangsdatum
      beschikking.einddatum: m:Beschikking/m:Einddatum
      producten:
        each: m:Beschikking/m:ToegewezenProducten/m:ToegewezenProduct
        rules:
          toewijzingnummer: m:ToewijzingNummer
          categorie: m:Product/i:Categorie
          code: m:Product/i:Code
          aanbieder: m:Aanbieder
          toewijzingsdatum: m:Toewijzingsdatum
          toewijzingstijd: m:Toewijzingstijd
          ingangsdatum: m:Ingangsdatum
          einddatum: m:Einddatum
          omvang.volume: m:Omvang/i:Volume
          omvang.eenheid: m:Omvang/i:Eenheid
          omvang.frequentie: m:Omvang/i:Frequentie
"""


def _mapping(tmp_path: Path, strictness: str, schema: str | None = "iwmo21-xsd/WMO301.xsd",
             name: str = "vendor-301") -> Path:
    path = tmp_path / f"{name}.yaml"
    line = f"source_schema: {schema}" if schema else ""
    path.write_text(MAPPING.format(name=name, strictness=strictness, schema=line), encoding="utf-8")
    return path


def _message(naamgebruik: str = "1", extra: str = "") -> bytes:
    text = FIXTURE.read_text(encoding="utf-8")
    client_naam = "<iwmo:NaamGebruik>1</iwmo:NaamGebruik>\n\t\t\t</wmo301:Naam>\n\t\t\t<wmo301:Relaties>"
    assert client_naam in text
    text = text.replace(client_naam, client_naam.replace(">1<", f">{naamgebruik}<"), 1)
    text = text.replace("<wmo301:Geslacht>1</wmo301:Geslacht>", "<wmo301:Geslacht>1</wmo301:Geslacht>" + extra, 1)
    return text.encode()


def _convert(tmp_path: Path, strictness: str, data: bytes, schema: str | None = "iwmo21-xsd/WMO301.xsd",
             debt: DialectDebt | None = None):
    path = _mapping(tmp_path, strictness, schema)
    registry = Registry(dirs=[], files=[path])
    assert not registry.errors, registry.errors
    return Converter(registry, mappings=[str(path)], debt=debt).convert(data, "msg.xml")


@needs_reference
def test_strict_accepts_a_message_that_fits_its_schema(tmp_path: Path) -> None:
    result = _convert(tmp_path, "strict", _message())
    assert result.warnings == []
    assert result.bericht.clients[0].naam.naamgebruik == "1"


@needs_reference
def test_strict_rejects_a_schema_break_with_its_line(tmp_path: Path) -> None:
    data = _message(extra="<wmo301:Huisdier>kat</wmo301:Huisdier>")
    with pytest.raises(ConversionError) as err:
        _convert(tmp_path, "strict", data)
    assert err.value.field == "source_schema"
    assert "iwmo21-xsd/WMO301.xsd" in err.value.message
    assert "Huisdier" in err.value.message and "not expected" in err.value.message
    line = next(i for i, text in enumerate(data.decode().splitlines(), 1) if "Huisdier" in text)
    assert err.value.line == line


@needs_reference
def test_lenient_converts_a_schema_break_with_a_warning_counted_as_debt(tmp_path: Path) -> None:
    debt = DialectDebt()
    data = _message(extra="<wmo301:Huisdier>kat</wmo301:Huisdier>")
    result = _convert(tmp_path, "lenient", data, debt=debt)
    assert [w.field for w in result.warnings] == ["source_schema:Huisdier"]
    assert result.outputs
    assert [u.path.rsplit(":", 1)[-1] for u in result.unmapped] == ["Huisdier"]
    assert debt.by_mapping() == {"vendor-301": {"source_schema:Huisdier": 1}}


@needs_reference
def test_schema_messages_do_not_repeat_the_offending_value(tmp_path: Path) -> None:
    text = _message().decode().replace("<wmo301:Bsn>123456782</wmo301:Bsn>", "<wmo301:Bsn>12345678X</wmo301:Bsn>")
    with pytest.raises(ConversionError) as err:
        _convert(tmp_path, "strict", text.encode())
    assert "12345678X" not in str(err.value)
    assert "Bsn" in err.value.message


def test_lenient_drops_an_optional_code_outside_its_list_and_counts_it(tmp_path: Path) -> None:
    debt = DialectDebt()
    for _ in range(3):
        result = _convert(tmp_path, "lenient", _message(naamgebruik="7"), schema=None, debt=debt)
    assert result.bericht.clients[0].naam.naamgebruik is None
    (warning,) = result.warnings
    assert warning.field == "clients.0.naam.naamgebruik"
    assert "COD700" in warning.message and "value dropped" in warning.message
    line = next(i for i, t in enumerate(_message(naamgebruik="7").decode().splitlines(), 1) if ">7<" in t)
    assert warning.line == line
    assert debt.counts() == {("vendor-301", "clients[].naam.naamgebruik"): 3}
    assert debt.total("vendor-301") == 3 and debt.total("other") == 0
    report = debt.report()
    assert report[0].startswith("vendor-301: 3 deviation(s)")
    assert "clients[].naam.naamgebruik" in report[1] and report[1].split()[0] == "3"


def test_strict_rejects_the_same_code(tmp_path: Path) -> None:
    with pytest.raises(ConversionError) as err:
        _convert(tmp_path, "strict", _message(naamgebruik="7"), schema=None)
    assert err.value.field == "clients.0.naam.naamgebruik"
    assert "COD700" in err.value.message


def test_lenient_still_rejects_a_required_value_outside_its_list(tmp_path: Path) -> None:
    text = _message().decode().replace("<wmo301:Geslacht>1</wmo301:Geslacht>", "<wmo301:Geslacht>7</wmo301:Geslacht>")
    with pytest.raises(ConversionError) as err:
        _convert(tmp_path, "lenient", text.encode(), schema=None)
    assert err.value.field == "clients.0.geslacht"


def test_absent_reference_dir_skips_the_schema_check_with_one_logged_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("OVERSTAP_REFERENCE_DIR", str(tmp_path / "nowhere"))
    data = _message(extra="<wmo301:Huisdier>kat</wmo301:Huisdier>")
    with caplog.at_level(logging.WARNING, logger="gateway.mapping"):
        path = _mapping(tmp_path, "strict")
        mapping = Registry(dirs=[], files=[path]).get(str(path))
        for _ in range(2):
            result = map_source(mapping, read(data, "m.xml").root)
    assert result.warnings == []
    skipped = [r for r in caplog.records if "not checked" in r.getMessage()]
    assert len(skipped) == 1 and "WMO301.xsd" in skipped[0].getMessage()


@needs_reference
def test_an_unknown_source_schema_is_a_mapping_error_with_a_suggestion(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "strict", schema="iwmo21-xsd/WMO310.xsd")
    with pytest.raises(MappingError) as err:
        Registry(dirs=[], files=[path]).get(str(path))
    (problem,) = err.value.problems
    assert (problem.line, problem.column) == (7, 16)
    assert "not found in the reference dir" in problem.message
    assert problem.hint and "iwmo21-xsd/WMO3" in problem.hint


def test_source_schema_must_be_a_relative_xsd_path(tmp_path: Path) -> None:
    path = _mapping(tmp_path, "strict", schema="/etc/passwd")
    with pytest.raises(MappingError) as err:
        Registry(dirs=[], files=[path]).get(str(path))
    assert "relative to the reference dir" in err.value.problems[0].message


def test_rule_key_drops_item_numbers() -> None:
    warning = Warning_("omvang.eenheid", "clients.10.producten.2.omvang.eenheid", 3, "x")
    assert rule_key(warning) == "clients[].producten[].omvang.eenheid"


def test_overstap_convert_prints_the_dialect_debt(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gateway.cli import main

    mapping = _mapping(tmp_path, "lenient", schema=None)
    for i in range(2):
        (tmp_path / f"in{i}.xml").write_bytes(_message(naamgebruik="7").replace(b"1d8d1f0852bf", f"id{i}".encode()))
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "in0.xml"), str(tmp_path / "in1.xml"), "--out",
                                       str(tmp_path / "out"), "--mapping", str(mapping), "--no-validate"])
    assert result.exit_code == 0, result.output
    assert "vendor-301: 2 deviation(s) accepted (strictness: lenient)" in result.output
    assert any(line.split()[:2] == ["2", "clients[].naam.naamgebruik:"] for line in result.output.splitlines())


def test_a_schema_message_tells_the_offending_value_by_its_shape_whole() -> None:
    """Review s18: a value with a quote in it (``D'Souza``) was cut at the quote and the rest shown (``'…'Souza
    Jansen'``); a pattern's ``{3}`` was taken for a namespace and dropped. Now the value is told by its shape, whole."""
    from lxml import etree

    from gateway.mapping.strictness import _readable

    xsd = etree.XMLSchema(etree.fromstring(
        b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:t" '
        b'elementFormDefault="qualified">'
        b'<xs:element name="r"><xs:complexType><xs:sequence><xs:element name="p"><xs:simpleType>'
        b'<xs:restriction base="xs:string"><xs:pattern value="[1-9][0-9]{3}[A-Z]{2}"/></xs:restriction></xs:simpleType>'
        b'</xs:element><xs:element name="i" type="xs:integer"/></xs:sequence>'
        b'<xs:attribute name="a" type="xs:integer"/></xs:complexType></xs:element></xs:schema>'))
    xsd.validate(etree.fromstring(b"<r xmlns='urn:t' a=\"D'Souza\"><p>D'Souza Jansen</p><i>Pieter'Jan</i></r>"))
    said = [_readable(e.message) for e in xsd.error_log]
    assert said == [
        "Element 'r', attribute 'a': (7 characters: letters and other characters) is not a valid value of the "
        "atomic type 'xs:integer'.",
        "Element 'p': [facet 'pattern'] The value (14 characters: letters, spaces and other characters) is not "
        "accepted by the pattern '[1-9][0-9]{3}[A-Z]{2}'.",
        "Element 'i': (10 characters: letters and other characters) is not a valid value of the atomic type "
        "'xs:integer'."]
@pytest.mark.parametrize("message", [
    "Element 'a': [facet 'pattern'] The value 'O'Brien 1' is not accepted by the pattern '[a-z]*'.",
    "Element 'b': 'O'Brien' is not a valid value of the atomic type 'xs:integer'.",
    "Element 'd': [facet 'enumeration'] The value 'O'Brien' is not an element of the set {'x'}.",
    "Element 'f': [facet 'maxInclusive'] The value 'O'Brien' is greater than the maximum value allowed ('2').",
])
def test_no_part_of_a_quoted_value_is_left_even_with_a_quote_in_it(message: str) -> None:
    """The value pattern stopped at the first quote: of O'Brien, "Brien" stayed in the message."""
    from gateway.ingest.errors import xsd_message

    said = xsd_message(message)
    assert "characters: letters" in said and "Brien" not in said and "O'" not in said


def test_an_output_schema_error_does_not_quote_the_value() -> None:
    """A written message that fails its XSD (the way back: a canonical value the dialect's pattern refuses) is
    reported with lxml's words, never the value: it may be a name or a BSN (gateway/render/schemas.py)."""
    from lxml import etree

    from gateway.render.schemas import OutputInvalid, check

    if not available():
        pytest.skip("the official XSDs are not here")
    fixture = Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
    root = etree.fromstring(fixture.read_bytes())
    voorletters = root.xpath("//*[local-name()='Voorletters']")[0]
    voorletters.text = "J9"
    with pytest.raises(OutputInvalid) as caught:
        check(etree.tostring(root), "iwmo21-301")
    assert "Voorletters': [facet 'pattern'] The value (2 characters: letters and digits) is not accepted by the " \
        "pattern" in str(caught.value)
    assert "J9" not in str(caught.value)
