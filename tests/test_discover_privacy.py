"""What discover's report and scaffold's draft show of a vendor's export (review finding F4).

Why: the report is shared with the vendor (docs/migration-guide.md section 1), yet a file name with a
surname and a BSN, vendor extensions (Voornamen, Contactpersoon, Diagnose, a Sofinummer, a birth date
under an unknown name) and a name in a code column all showed as they were: any value of at most 40
characters under an element name not on a list counted as a "code". Now a value is shown only with the
strict shape of a code, in a code element or as a code of a known list; file names are masked. The
secrets are counted, never echoed, when a test fails.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.discover.draft import flatten
from gateway.discover.shapes import mask_key, scrub, shown, told

SECRETS = ("123456782", "Gaastra", "Johannes Pieter", "Piet Jansen", "Alzheimer, beginnend", "12345672",
           "06-01-1985", "Smit-Jansen", "Smit")
EXTENSIONS = (b'<wmo301:Bsn>123456782</wmo301:Bsn><x:Voornamen xmlns:x="urn:v">Johannes Pieter</x:Voornamen>'
              b'<x:Contactpersoon xmlns:x="urn:v">Piet Jansen</x:Contactpersoon>'
              b'<x:Diagnose xmlns:x="urn:v">Alzheimer, beginnend</x:Diagnose>'
              b'<x:Sofinummer xmlns:x="urn:v">12345672</x:Sofinummer><x:Geb xmlns:x="urn:v">06-01-1985</x:Geb>'
              b'<x:Mentor xmlns:x="urn:v">Smit-Jansen</x:Mentor>')


@pytest.fixture(scope="module")
def export(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reviewer's export: one message named after its client, one with a name in its Geslacht."""
    sample = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    folder = tmp_path_factory.mktemp("privacy") / "export_123456782"  # an INPUT's name is shown too
    folder.mkdir()
    (folder / "Gaastra_D_123456782_toewijzing.xml").write_bytes(
        sample.replace(b"<wmo301:Bsn>123456782</wmo301:Bsn>", EXTENSIONS))
    (folder / "name-in-code-field.xml").write_bytes(
        sample.replace(b"<wmo301:Geslacht>1</wmo301:Geslacht>", b"<wmo301:Geslacht>Gaastra</wmo301:Geslacht>", 1))
    return folder


def _leaks(text: str) -> list[int]:
    """Which secrets (by index, never the value) stand in ``text``, also between underscores (file names)."""
    return [i for i, s in enumerate(SECRETS) if re.search(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])", text)]


def test_the_report_shows_no_name_bsn_birth_date_or_care_data(export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["discover", str(export), "--workers", "0", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    texts = {"terminal": result.output, "json": (tmp_path / "report.json").read_text(encoding="utf-8"),
             "html": (tmp_path / "report.html").read_text(encoding="utf-8")}
    assert {kind: _leaks(text) for kind, text in texts.items()} == {"terminal": [], "json": [], "html": []}
    report = json.loads(texts["json"])
    clusters = {c["id"]: c for c in report["clusters"]}
    named = clusters["iwmo20-wmo301"]
    (code,) = [d for d in named["deviations"] if d["kind"] == "code"]
    assert code["detail"] == "clients.geslacht: (7 letters) not in value map of clients.geslacht"
    assert code["values"] == []
    assert "export_*********/*******_*_*********_toewijzing.xml" in texts["terminal"]
    assert report["inputs"] == ["export_*********"]
    paths = {p["path"]: p for c in report["clusters"] for p in c["paths"] if c["id"] != "iwmo20-wmo301"}
    for name in ("Contactpersoon", "Diagnose", "Geb", "Mentor"):
        entry = paths[f"Clienten/Client/{name}"]
        assert "values" not in entry and entry["values_withheld"] == 1, name
    assert paths["Clienten/Client/Sofinummer"]["masked_examples"] == ["8 digits"]  # a BSN that lost its zero
    voornamen = paths["Clienten/Client/Voornamen"]  # personal by its name: an example, by its shape
    assert "values" not in voornamen and voornamen["masked_examples"] == ["15 characters: letters and spaces"]
    assert paths["Clienten/Client/Mentor"]["shapes"] == {"word": 1}  # a double surname has no prefix
    product = paths["Clienten/Client/Beschikking/ToegewezenProducten/ToegewezenProduct/Product/Code"]
    assert product["values"] == {"07A03": 1}  # a code in a code element still shows
    assert paths["Clienten/Client/Geslacht"]["values"] == {"1": 1}


def test_scaffold_puts_no_name_or_bsn_in_names_descriptions_or_comments(export: Path, tmp_path: Path) -> None:
    found = CliRunner().invoke(main, ["discover", str(export), "--workers", "0"])
    extended = re.search(r"iwmo20-wmo301~[0-9a-f]+", found.output)
    assert extended is not None
    for cluster in (extended.group(), "iwmo20-wmo301"):  # the extensions, and the name in the code column
        out = tmp_path / cluster / "mapping.yaml"
        result = CliRunner().invoke(main, ["scaffold", str(export), "--cluster", cluster, "--out", str(out)])
        assert result.exit_code == 0, result.output
        draft = out.read_text(encoding="utf-8")
        fixtures = " ".join(p.name for p in (out.parent / "fixtures").iterdir())
        assert (_leaks(draft), _leaks(fixtures), _leaks(result.output)) == ([], [], []), cluster
        assert "# NOTE: fixtures/ holds REAL messages" in draft and "anonymise" in draft
    assert "add (7 letters) to a value map" in (tmp_path / "iwmo20-wmo301" / "mapping.yaml").read_text("utf-8")


def test_generated_tests_expect_no_personal_or_vendor_field_by_value() -> None:
    """A vendor's extra.* fields may hold anything (extra.voornamen is a name): the generated tests leave them
    out, as they leave out names, the BSN and the address."""
    dump = {"wet": "wmo", "extra": {"voornamen": "Johannes Pieter"},
            "clients": [{"bsn": "123456782", "clientnummer": "123456782", "geslacht": "1",
                         "extra": {"contactpersoon": "Piet Jansen"}}]}
    assert flatten(dump) == {"wet": "wmo", "clients.0.geslacht": "1"}


@pytest.mark.parametrize(("value", "allowed", "expected"), [
    ("07A03", frozenset(), "07A03"),  # a product code in a code element
    ("99", frozenset({"01", "04"}), "99"),  # outside its list, code-shaped: shown so it can be mapped
    ("HH-BASIS", frozenset({"HH-BASIS"}), "HH-BASIS"),  # in the rule's own value map
    ("2", None, "2"),  # a value of a known code list, wherever it is
    ("Gaastra", frozenset({"1", "2"}), None),  # a name in a code column
    ("JD12", None, None),  # code-shaped, but in no code element and no list
    ("12345672", frozenset(), None), ("123456782", frozenset({"123456782"}), None),  # BSNs, even in a value map
    ("06-01-1985", frozenset({"06-01-1985"}), None), ("Piet Jansen", frozenset(), None),
])
def test_only_a_code_is_shown(value: str, allowed: frozenset[str] | None, expected: str | None) -> None:
    assert shown(value, allowed) == expected


def test_a_hidden_value_is_told_by_its_shape() -> None:
    assert told("Gaastra", frozenset()) == "(7 letters)"
    assert told("06-01-1985") == "(10 characters in the form dd-dd-dddd)"
    assert told("99", frozenset()) == "'99'"


@pytest.mark.parametrize(("key", "expected"), [
    ("in/Gaastra_D_123456782_toewijzing.xml", "in/*******_*_*********_toewijzing.xml"),
    ("in/JP_Visser_wmo301.xml", "in/**_******_wmo301.xml"),  # initials standing alone are a name's too
    ("export.zip/2016/CasusA-02-WMO301_toewijzing.xml", "export.zip/2016/CasusA-02-WMO301_toewijzing.xml"),
    ("a.zip/jansen-12345672.xml", "*.zip/******-********.xml"),  # "a" stands alone: maybe an initial
    ("2016/0363-20160106.xml", "2016/0363-********.xml"),
])
def test_file_names_are_masked(key: str, expected: str) -> None:
    assert mask_key(key) == expected


def test_scaffold_of_a_foreign_dialect_tells_an_unknown_word_by_its_shape(tmp_path: Path) -> None:
    """A flat export (no structure shared with a built-in dialect): its Geslacht words become a value map, and a
    surname among them is named in the GUESS comment only as "(7 letters)"."""
    flat = Path(__file__).resolve().parents[1] / "mappings/examples/flat-no-namespace/fixtures/toewijzing.xml"
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "a.xml").write_bytes(flat.read_bytes())
    (folder / "b.xml").write_bytes(re.sub(rb"<Geslacht>\w*</Geslacht>", b"<Geslacht>Gaastra</Geslacht>",
                                          flat.read_bytes()))
    out = tmp_path / "draft" / "mapping.yaml"
    result = CliRunner().invoke(main, ["scaffold", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    draft = out.read_text(encoding="utf-8")
    assert _leaks(draft) == [] and "not translated yet: (7 letters)" in draft


@pytest.mark.parametrize("name", ["Piet Jansen", "Smit-Jansen"])
def test_a_value_map_of_local_codes_takes_only_prefixed_codes(name: str, tmp_path: Path) -> None:
    """The draft's value map of a vendor's own product codes (HH-BASIS, BG-GROEP) lists what was seen, but a
    name typed into a product code is no code: it is left out and counted in the GUESS comment. A double
    surname has a prefixed code's shape (``Smit-`` and a word): review s18 found it listed in the value map."""
    example = Path(__file__).resolve().parents[1] / "mappings/examples/vendor-extensions/fixtures/toewijzing.xml"
    text = example.read_bytes()
    start = text.index(b"<wmo301:ToegewezenProduct>")
    end = text.index(b"</wmo301:ToegewezenProduct>", start) + len(b"</wmo301:ToegewezenProduct>")
    third = re.sub(rb"<iwmo:Code>[^<]*</iwmo:Code>", f"<iwmo:Code>{name}</iwmo:Code>".encode(), text[start:end])
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.xml").write_bytes(text[:end] + third + text[end:])
    out = tmp_path / "draft" / "mapping.yaml"
    result = CliRunner().invoke(main, ["scaffold", str(tmp_path / "in"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    draft = out.read_text(encoding="utf-8")
    assert '"values": {"BG-GROEP": "?", "HH-BASIS": "?"}' in draft and _leaks(draft) == []
    assert "(1 value(s) without a prefixed code's shape left out)" in draft


def test_a_problem_text_masks_a_long_number_whole() -> None:
    """Review s18: a conversion problem kept a BSN's last two digits (``*******82``); now no digit of it."""
    said = scrub("clients.0.bsn: 123456782 fails, beschikking 20160106")
    assert said == "clients.0.bsn: ********* fails, beschikking ********"


def test_a_double_surname_in_a_code_column_gives_no_prefix(tmp_path: Path) -> None:
    """Review s18: ``Smit-Jansen`` has a prefixed code's shape, and in a code element the report named its prefix
    (``prefix:Smit-``, a format deviation) and the draft stripped it (``strip_prefix: Smit-``)."""
    example = Path(__file__).resolve().parents[1] / "mappings/examples/vendor-extensions/fixtures/toewijzing.xml"
    (tmp_path / "in").mkdir()
    named = re.sub(rb"<iwmo:Code>[^<]*</iwmo:Code>", b"<iwmo:Code>Smit-Jansen</iwmo:Code>", example.read_bytes())
    (tmp_path / "in" / "a.xml").write_bytes(named)
    found = CliRunner().invoke(main, ["discover", str(tmp_path / "in"), "--workers", "0", "--out", str(tmp_path / "r")])
    out = tmp_path / "draft" / "mapping.yaml"
    drafted = CliRunner().invoke(main, ["scaffold", str(tmp_path / "in"), "--out", str(out)])
    assert found.exit_code == 0 and drafted.exit_code == 0, (found.output, drafted.output)
    texts = [found.output, (tmp_path / "r" / "report.json").read_text("utf-8"), out.read_text("utf-8")]
    assert [_leaks(text) for text in texts] == [[], [], []]
