"""Envelope values that go nowhere are reported as unmapped input, never dropped without a word.

Why: an incoming GGk envelope's ``zender``/``ontvanger`` ``administratie`` and ``gebruiker`` and its
``parameters/referentienummerBericht`` (and ``crossRefnummerBericht``) were neither in the output nor
reported. The canonical output has no place for them (its stuurgegevens are Overstap's own; spec 3.2:
``gebruiker`` and the ontvanger's ``administratie`` "geen betekenis"; v2.1.04 removed the two parameters),
so a filled one is listed with the unmapped payload fields: path and line, never the value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_registry import shared_registry

from gateway.cli import main
from gateway.ingest import InputError
from gateway.pipeline import Converter

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
DI01 = "/GGK:envelopHeenbericht-ggk_Di01"


def envelope() -> bytes:
    """A Di01 around the fixture, with the elements that go nowhere filled by hand (line numbers as noted)."""
    made = Converter(shared_registry(), profile="ggk").convert(FIXTURE.read_bytes(), "301.xml").outputs[0].xml
    made = made.replace(b"<StUF:administratie>gemeente 0384</StUF:administratie>",
                        b"<StUF:administratie>ISD Bollenstreek</StUF:administratie>\r\n"
                        b"<StUF:gebruiker>J. de Vries</StUF:gebruiker>")  # lines 8 and 9
    made = made.replace(b"<StUF:applicatie>GGk</StUF:applicatie>",
                        b"<StUF:applicatie>GGk</StUF:applicatie><StUF:administratie>Diemen</StUF:administratie>")
    made = made.replace(b"<GGK:functieSubversie>0001</GGK:functieSubversie>",
                        b"<GGK:functieSubversie>0001</GGK:functieSubversie>\r\n"
                        b"<GGK:referentienummerBericht>ovs-301-a02</GGK:referentienummerBericht>")  # line 24
    return re.sub(rb"<StUF:referentienummer>[^<]+", b"<StUF:referentienummer>0e09a81f-64a0-4793-b946-d6538fb3f37e",
                  made)


def test_envelope_elements_that_go_nowhere_are_unmapped_input() -> None:
    result = Converter(shared_registry()).convert(envelope(), "di01.xml")
    assert [(u.path, u.line) for u in result.unmapped] == [
        (f"{DI01}/GGK:stuurgegevens/StUF:zender/StUF:administratie", 8),
        (f"{DI01}/GGK:stuurgegevens/StUF:zender/StUF:gebruiker", 9),
        (f"{DI01}/GGK:stuurgegevens/StUF:ontvanger/StUF:administratie", 13),
        (f"{DI01}/GGK:parameters/GGK:referentienummerBericht", 24),
    ]


def test_an_envelope_without_them_reports_nothing() -> None:
    plain = re.sub(rb"\s*<StUF:administratie>[^<]*</StUF:administratie>", b"",
                   Converter(shared_registry(), profile="ggk").convert(FIXTURE.read_bytes(), "301.xml").outputs[0].xml)
    assert Converter(shared_registry()).convert(plain, "di01.xml").unmapped == []


def test_convert_lists_them_by_path_never_by_value(tmp_path: Path) -> None:
    (tmp_path / "di01.xml").write_bytes(envelope())
    run = CliRunner().invoke(main, ["convert", str(tmp_path / "di01.xml"), "--out", str(tmp_path / "out"),
                                       "--state", "none"])
    assert run.exit_code == 0, run.output
    assert "(4 source element(s) not mapped)" in run.output
    assert f"not mapped: {DI01}/GGK:stuurgegevens/StUF:zender/StUF:gebruiker (line 9)" in run.output
    assert "Vries" not in run.output and "Bollenstreek" not in run.output


def _plain() -> bytes:
    return re.sub(rb"\s*<StUF:administratie>[^<]*</StUF:administratie>", b"",
                  Converter(shared_registry(), profile="ggk").convert(FIXTURE.read_bytes(), "301.xml").outputs[0].xml)


def test_envelope_attributes_and_text_beside_its_elements_are_unmapped_input() -> None:
    """Session 24: the GGk schema has no attribute on these elements and no text beside them; a sender's were
    dropped without a word. The payload's xmime:contentType and StUF:bestandsnaam are read; xsi: is no data."""
    bent = (_plain().replace(b"<StUF:functie>", b'<StUF:functie soort="J. de Vries">')
            .replace(b"<GGK:stuurgegevens>", b"<GGK:stuurgegevens>Bollenstreek")
            .replace(b'xmime:contentType="application/xml"', b'xmime:contentType="application/xml" '
                     b'StUF:bestandsnaam="WMO301.xml" xsi:type="x" naam="Gaastra" xmlns:xsi='
                     b'"http://www.w3.org/2001/XMLSchema-instance"')
            .replace(b"</GGK:bericht>", b"</GGK:bericht>Gaastra"))
    result = Converter(shared_registry()).convert(bent, "di01.xml")
    assert [(u.path, u.line) for u in result.unmapped] == [
        (f"{DI01}/GGK:stuurgegevens/text()", 3),
        (f"{DI01}/GGK:stuurgegevens/StUF:functie/@soort", 15),
        (f"{DI01}/GGK:parameters/text()", 22),  # the text after the bericht: line of the element before it
        (f"{DI01}/GGK:parameters/GGK:bericht/@naam", 22),
    ]


def test_an_envelope_value_a_comment_splits_is_read_whole() -> None:
    """``03<!-- -->84`` was read as zender 03, and a gebruiker after a comment was neither read nor reported."""
    bent = (_plain().replace(b"<StUF:organisatie>0384</StUF:organisatie>", b"<StUF:organisatie>03<!-- -->84"
                             b"</StUF:organisatie>")
            .replace(b"<StUF:applicatie>OVERSTAP</StUF:applicatie>", b"<StUF:applicatie>OVERSTAP</StUF:applicatie>"
                     b"<StUF:gebruiker><!-- c -->J. de Vries</StUF:gebruiker>"))
    result = Converter(shared_registry()).convert(bent, "di01.xml")
    assert result.source.envelope_info["zender.organisatie"] == "0384"
    assert result.source.envelope_info["zender.gebruiker"] == "J. de Vries"
    assert [(u.path, u.line) for u in result.unmapped] == [(f"{DI01}/GGK:stuurgegevens/StUF:zender/StUF:gebruiker", 7)]


def test_an_element_inside_an_envelope_value_is_refused() -> None:
    bent = _plain().replace(b"<StUF:functie>WMO301", b"<StUF:functie>WMO301<StUF:x>Gaastra</StUF:x>")
    with pytest.raises(InputError) as caught:
        Converter(shared_registry()).convert(bent, "di01.xml")
    assert (caught.value.field, caught.value.line) == ("stuurgegevens.functie", 15)
    assert "stuurgegevens.functie holds an element 'x'; expected text only" in str(caught.value)
