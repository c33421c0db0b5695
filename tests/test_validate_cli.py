"""``overstap validate``: invalid messages invalid (exit 1), valid ones valid (exit 0), for each kind it checks.

Why (session 21 review): an iWmo 2.1 namespace without an XSD here ended in a KeyError traceback; a GGk envelope
the GGk schema refuses was called valid when its payload was; a Fo03 in its SOAP Fault (as it is answered) was
called invalid, "no official schema known for root element Fault". Session 29: a message or GGk payload with no
official schema in the reference folder (iJw, iWmo 3.2) was a FAIL "no official schema known" (exit 1), so validate
called Overstap's own correct iJw GGk output invalid; it is now "not checked", its own line and count, exit 0 unless
something is invalid or --require-schemas asks for certainty.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from proxy_helpers import BV03, FO03

from gateway.cli import main
from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter
from gateway.render import stuf

FIXTURES = Path(__file__).parent / "fixtures" / "iwmo21"
IJW = Path(__file__).parent / "fixtures" / "ijw21"
JW301 = "{http://www.istandaarden.nl/ijw/2_1/jw301/schema/2_1}Bericht"


def validate(*paths: Path, options: tuple[str, ...] = ()) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["validate", *options, *map(str, paths)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


def ggk_envelopes(tmp_path: Path) -> tuple[Path, Path]:
    """A GGk Di01 (301) and Du01 (302) as Overstap renders them."""
    converter = Converter(ledger=MemoryLedger(), profile="ggk")
    out = []
    for name in ("CasusB-01-WMO301_toewijzing.xml", "families/CasusB-01-WMO302_retour_afgekeurd.xml"):
        (output,) = converter.convert((FIXTURES / name).read_bytes(), name).outputs
        out.append(tmp_path / Path(name).name)
        out[-1].write_bytes(output.xml)
    return out[0], out[1]


def test_an_iwmo_2_1_message_kind_without_an_xsd_here_is_not_checked_not_a_traceback(tmp_path: Path,
                                                                                     reference_dir: Path) -> None:
    odd = tmp_path / "wmo399.xml"
    odd.write_text('<Bericht xmlns="http://www.istandaarden.nl/iwmo/2_1/wmo399/schema"><a/></Bericht>')
    said = [f"skip {odd}: not checked: no official schema for "
            f"{{http://www.istandaarden.nl/iwmo/2_1/wmo399/schema}}Bericht in {reference_dir} (Bericht)",
            "0 passed, 0 failed, 1 not checked"]
    assert validate(odd) == (0, said)
    assert validate(odd, options=("--require-schemas",)) == (1, said)


def ijw_ggk(tmp_path: Path) -> Path:
    """A GGk Di01 carrying an iJw 301 as Overstap renders it: a correct message whose payload has no XSD here."""
    name = "JW301_toewijzing.xml"
    (output,) = Converter(ledger=MemoryLedger(), profile="ggk").convert((IJW / name).read_bytes(), name).outputs
    written = tmp_path / "jw301-ggk.xml"
    written.write_bytes(output.xml)
    return written


def test_an_ijw_ggk_envelope_is_checked_and_its_payload_said_not_checked(tmp_path: Path, reference_dir: Path) -> None:
    """What was checked passed (the envelope), what could not be is said as such: exit 0 beside a valid message,
    counted apart; --require-schemas (a pipeline that wants certainty) makes it exit 1."""
    jw = ijw_ggk(tmp_path)
    di01, _ = ggk_envelopes(tmp_path)
    said = [f"skip {jw}: GGk envelope valid; payload not checked: no official schema for {JW301} in {reference_dir} "
            "(Bericht in a GGk Di01 envelope)", f"ok   {di01}: valid (Bericht in a GGk Di01 envelope)",
            "1 passed, 0 failed, 1 not checked"]
    assert validate(jw, di01) == (0, said)
    assert validate(jw, di01, options=("--require-schemas",)) == (1, said)


def test_an_invalid_envelope_around_a_payload_not_checked_is_a_fail(tmp_path: Path, reference_dir: Path) -> None:
    """Not checked never hides what was checked and failed: the envelope's error is a FAIL (exit 1) naming both."""
    bad = tmp_path / "bad-jw.xml"
    text = ijw_ggk(tmp_path).read_bytes()
    assert text.count(b"<GGK:parameters>") == 1
    bad.write_bytes(text.replace(b"<GGK:parameters>", b'<GGK:parameters foo="1">'))
    code, lines = validate(bad)
    assert code == 1 and lines[-1] == "0 passed, 1 failed, 0 not checked"
    assert lines[0].startswith(f"FAIL {bad}: GGk envelope line ") and "attribute 'foo'" in lines[0]
    assert lines[0].endswith(f"; payload not checked: no official schema for {JW301} in {reference_dir}")


@pytest.mark.parametrize(("find", "replace", "said"), [
    (b">WMO301<", b">" + b"W" * 60 + b"<", "line 16: Element '{http://www.egem.nl/StUF/StUF0301}functie': [facet "
     "'maxLength'] The value has a length of '60'; this exceeds the allowed maximum length of '30'."),
    (b"<GGK:parameters>", b'<GGK:parameters foo="1">', "line 18: Element "
     "'{http://www.stufstandaarden.nl/sectormodel/ggk/0210}parameters', attribute 'foo': The attribute 'foo' is not "
     "allowed."),
])
def test_a_ggk_envelope_the_ggk_schema_refuses_is_invalid_though_its_payload_is_valid(
        tmp_path: Path, reference_dir: Path, find: bytes, replace: bytes, said: str) -> None:
    di01, _du01 = ggk_envelopes(tmp_path)
    bad = tmp_path / "bad.xml"
    assert find in di01.read_bytes()
    bad.write_bytes(di01.read_bytes().replace(find, replace, 1))
    assert validate(bad) == (1, [f"FAIL {bad}: GGk envelope {said}", "0 passed, 1 failed, 0 not checked"])


def test_every_kind_validate_checks_is_valid_when_it_is(tmp_path: Path, reference_dir: Path) -> None:
    di01, du01 = ggk_envelopes(tmp_path)
    wrapped = tmp_path / "soap-di01.xml"
    wrapped.write_bytes(stuf.envelope(di01.read_bytes()))
    (zaak,) = Converter(ledger=MemoryLedger()).convert(
        (FIXTURES / "CasusB-01-WMO301_toewijzing.xml").read_bytes(), "b01.xml").outputs
    lk01, bv03, fo03 = tmp_path / "lk01.xml", tmp_path / "bv03.xml", tmp_path / "fo03.xml"
    lk01.write_bytes(zaak.xml)
    bv03.write_text(BV03.format(ref="R1"))
    fo03.write_text(FO03.format(ref="R1", code="StUF055", omschrijving="zaaktype onbekend"))
    toewijzing = FIXTURES / "CasusB-01-WMO301_toewijzing.xml"
    assert validate(di01, du01, wrapped, lk01, bv03, fo03, toewijzing) == (0, [
        f"ok   {di01}: valid (Bericht in a GGk Di01 envelope)", f"ok   {du01}: valid (Bericht in a GGk Du01 envelope)",
        f"ok   {wrapped}: valid (Bericht in a GGk Di01 envelope)", f"ok   {lk01}: valid (zakLk01)",
        f"ok   {bv03}: valid (Bv03Bericht)", f"ok   {fo03}: valid (Fo03Bericht in a SOAP Fault)",
        f"ok   {toewijzing}: valid (Bericht)", "7 passed, 0 failed, 0 not checked"])


def test_a_fo03_in_its_soap_fault_is_checked_against_the_stuf_schema(tmp_path: Path, reference_dir: Path) -> None:
    bad = tmp_path / "fo03.xml"
    bad.write_text(FO03.format(ref="R1", code="StUF055", omschrijving="x").replace("<StUF:plek>", "<StUF:bogus/>"
                                                                                   "<StUF:plek>"))
    code, lines = validate(bad)
    assert code == 1 and lines[0].startswith(f"FAIL {bad}: line 1: Element '{{http://www.egem.nl/StUF/StUF0301}}"
                                             "bogus': This element is not expected.")


def test_the_exit_codes_are_in_the_help() -> None:
    said = " ".join(CliRunner().invoke(main, ["validate", "--help"]).output.split())
    assert "Exit status: 0 nothing invalid; 1 one or more invalid or unreadable" in said
    assert "or with --require-schemas one not checked" in said
    assert "2 the schemas are not where $OVERSTAP_REFERENCE_DIR says" in said


VRAAG = Path(__file__).parent / "samples" / "zkn-vraag"


def test_a_zaak_question_and_its_answer_are_valid_bare_and_in_soap(tmp_path: Path, reference_dir: Path) -> None:
    """zakLv01/zakLa01 are in the ZKN namespace but not in the mutatie schema: validate used to call both invalid,
    "No matching global declaration available for the validation root"."""
    lv01, la01 = VRAAG / "zakLv01.xml", VRAAG / "zakLa01.xml"
    wrapped = tmp_path / "soap-la01.xml"
    wrapped.write_bytes(stuf.envelope(la01.read_bytes().split(b"?>", 1)[1].strip()))
    assert validate(lv01, la01, wrapped) == (0, [
        f"ok   {lv01}: valid (zakLv01)", f"ok   {la01}: valid (zakLa01)", f"ok   {wrapped}: valid (zakLa01)",
        "3 passed, 0 failed, 0 not checked"])


@pytest.mark.parametrize(("name", "find", "replace", "said"), [
    ("zakLv01.xml", b"<StUF:berichtcode>Lv01<", b"<StUF:berichtcode>La01<", "line 4: Element "
     "'{http://www.egem.nl/StUF/StUF0301}berichtcode': [facet 'enumeration'] The value (4 characters: letters and "
     "digits) is not an element of the set {'Lv01'}."),
    ("zakLa01.xml", b">20240304101202000<", b">2024-03-04T10:12<", "line 8: Element "
     "'{http://www.egem.nl/StUF/StUF0301}tijdstipBericht': [facet 'pattern'] The value (16 characters in the form "
     "dddd-dd-ddadd:dd) is not accepted by the pattern '[0-9]{8,17}'."),
    ("zakLa01.xml", b"<ZKN:startdatum>", b"<ZKN:bogus/><ZKN:startdatum>", "line 19: Element "
     "'{http://www.egem.nl/StUF/sector/zkn/0310}bogus': This element is not expected."),
])
def test_a_broken_zaak_question_or_answer_fails_naming_element_and_line(tmp_path: Path, reference_dir: Path,
                                                                        name: str, find: bytes, replace: bytes,
                                                                        said: str) -> None:
    bad = tmp_path / name
    text = (VRAAG / name).read_bytes()
    assert text.count(find) == 1
    bad.write_bytes(text.replace(find, replace))
    code, lines = validate(bad)
    assert code == 1 and lines[-1] == "0 passed, 1 failed, 0 not checked"
    assert lines[0].startswith(f"FAIL {bad}: {said}"), lines[0]
