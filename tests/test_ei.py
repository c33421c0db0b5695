"""Tests for the EI flat-file parser and the iWmo 2.0 layouts in dialects/ei/iwmo20-ei.yaml.

Why these tests: the EI positions were reconstructed from samples, not taken from a specification.
The strongest check available is therefore to parse every reference EI file and compare each
value with the same message in 2.0 XML, through the `xml` paths declared in the layout. That
comparison is written to fail on any shifted position, and a test below proves that it does.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from lxml import etree

from gateway.ingest.ei import (
    MAX_SOURCELINE,
    EiError,
    EiLayouts,
    MessageLayout,
    RecordLayout,
    default_layouts,
    load_layouts,
    looks_like_ei,
    parse_ei,
    source_line,
)

REPO = Path(__file__).resolve().parents[1]
LAYOUT_FILE = REPO / "dialects" / "ei" / "iwmo20-ei.yaml"
REF = Path(os.environ.get("OVERSTAP_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
EI_DIR = REF / "samples" / "iwmo-ei"
XML_DIR = REF / "samples" / "iwmo20-xml"
NO_REF = f"reference samples not found at {EI_DIR} (set OVERSTAP_REFERENCE_DIR)"


def _ref_params(paths: Callable[[], list[Path]]) -> list:
    if not EI_DIR.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=NO_REF), id="no-reference")]
    return [pytest.param(p, id=p.name) for p in paths()]


EI_FILES = _ref_params(lambda: sorted(p for p in EI_DIR.iterdir() if p.suffix in (".ei", ".txt")))
XML_TWINS = _ref_params(lambda: sorted(XML_DIR.glob("*.xml")))


@pytest.fixture(scope="module")
def layouts() -> EiLayouts:
    return load_layouts(LAYOUT_FILE)


def _need_ref() -> None:
    if not EI_DIR.is_dir():
        pytest.skip(NO_REF)


def _lines(name: str) -> list[str]:
    _need_ref()
    return (EI_DIR / name).read_bytes().decode("ascii").splitlines()


def _data(lines: list[str], eol: str = "\n", final: bool = True) -> bytes:
    return (eol.join(lines) + (eol if final else "")).encode("latin-1")


def _put(line: str, start: int, text: str) -> str:
    """Overwrite ``line`` at 1-based ``start`` with ``text``."""
    return line[: start - 1] + text + line[start - 1 + len(text) :]


def _renumber(lines: list[str]) -> list[str]:
    """Rewrite the 12-digit sequence numbers (positions 3-14) of all detail records."""
    out, seq = [], 0
    for ln in lines:
        if ln[:2] not in ("01", "99"):
            seq += 1
            ln = _put(ln, 3, f"{seq:012d}")
        out.append(ln)
    return out


# --------------------------------------------------------------------------------------------------
# Every reference file parses


def test_reference_set_is_complete() -> None:
    _need_ref()
    assert len([p for p in EI_DIR.iterdir() if p.suffix == ".ei"]) == 11
    assert len(list(EI_DIR.glob("*_voorbeeld.txt"))) == 4


@pytest.mark.parametrize("path", EI_FILES)
def test_every_reference_file_parses(path: Path, layouts: EiLayouts) -> None:
    data = path.read_bytes()
    root = parse_ei(data, layouts, path.name)
    code = data[2:5].decode()
    assert root.tag == "EI" and root.get("berichtcode") == code
    kids = list(root)
    assert kids[0].tag == "Voorloop" and kids[0].sourceline == 1
    assert kids[-1].tag == "Sluit" and kids[-1].sourceline == len(data.decode("ascii").splitlines())
    assert [k.tag for k in kids[1:-1]] == ["Client"]
    assert kids[0].findtext("BerichtCode") == code
    # every element has the line of its record, and every detail record became exactly one element
    records = [el for el in root.iter() if el is not root and len(el)]
    assert sorted(el.sourceline for el in records) == list(range(1, len(records) + 1))
    for el in root.iter():
        assert el.sourceline is not None
        for child in el:
            if not len(child):  # a field
                assert child.sourceline == el.sourceline and child.text and child.text == child.text.strip()
    assert looks_like_ei(data)


def test_casus_a02_tree(layouts: EiLayouts) -> None:
    _need_ref()
    root = parse_ei((EI_DIR / "CasusA-02-WMO301_toewijzing.ei").read_bytes(), layouts, "A-02")
    (client,) = root.findall("Client")
    assert client.sourceline == 2
    assert client.findtext("Bsn") == "123456782" and client.find("Bsn").sourceline == 2
    assert client.findtext("Geboortedatum") == "1985-01-06"
    assert client.findtext("Geslachtsnaam") == "Gaastra"
    assert client.find("Voorvoegsel") is None  # blank -> omitted
    assert client.find("DatumGebruik") is None  # single 0 code -> omitted
    assert client.find("Onbekend59") is None  # 0 -> omitted
    (relatie,) = client.findall("Relatie")
    assert relatie.sourceline == 3 and relatie.findtext("Nummer") == "00000000001"
    (rel_adres,) = relatie.findall("Adres")
    assert rel_adres.sourceline == 4 and rel_adres.findtext("Emailadres") == "dsmistral@email.nl"
    (adres,) = client.findall("Adres")
    assert adres.sourceline == 5 and adres.findtext("Telefoonnummer01") == "0201234567"
    assert adres.findtext("Huisnummer") == "4" and adres.findtext("Postcode") == "1234AB"
    (besch,) = client.findall("Beschikking")
    assert besch.sourceline == 6 and besch.findtext("Beschikkingnummer") == "425386123"
    (bp,) = besch.findall("BeschiktProduct")
    (tp,) = besch.findall("ToegewezenProduct")
    assert (bp.sourceline, tp.sourceline) == (7, 8)
    for prod in (bp, tp):
        assert prod.findtext("Categorie") == "07"
        assert prod.findtext("Code") == "07A03"
        assert prod.findtext("Volume") == "6"
        assert prod.findtext("Eenheid") == "04"
        assert prod.findtext("Frequentie") == "2"
        assert prod.findtext("Ingangsdatum") == "2016-02-15"
        assert prod.findtext("Einddatum") == "2016-12-31"
        assert prod.find("Code").sourceline == prod.sourceline
    assert tp.findtext("Aanbieder") == "98025566" and tp.find("Aanbieder").sourceline == 8
    assert tp.findtext("Gemeentecode") == "0384"
    assert tp.findtext("Toewijzingstijd") == "14:23:26"
    assert tp.find("RedenIntrekking") is None
    sluit = root.find("Sluit")
    assert sluit.sourceline == 9
    assert sluit.findtext("AantalAdressen") == "2" and sluit.findtext("AantalDetailrecords") == "7"
    assert sluit.find("Onbekend21") is None


# --------------------------------------------------------------------------------------------------
# EI vs 2.0 XML, value by value


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _xml_find(el: etree._Element, path: str) -> list[etree._Element]:
    found = [el]
    for step in path.split("/"):
        found = [c for p in found for c in p if isinstance(c.tag, str) and _local(c) == step]
    return found


def _xml_leaves(el: etree._Element, skip: set[etree._Element], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for c in el:
        if not isinstance(c.tag, str) or c in skip:
            continue
        path = prefix + _local(c)
        if len(c):
            out.update(_xml_leaves(c, skip, path + "/"))
        else:
            assert path not in out, f"ambiguous XML path {path}"
            out[path] = (c.text or "").strip()
    return out


def _child_records(msg: MessageLayout, parent: str | None) -> list[tuple[RecordLayout, str | None]]:
    out = []
    for rec in msg.records.values():
        if rec.parent == parent:
            out.append((rec, rec.xml))
        if parent is not None and rec.parent_by and rec.parent_by.record == parent:
            out.append((rec, rec.parent_by.xml))
    return out


def compare_with_xml(
    ei: etree._Element, xml: etree._Element, msg: MessageLayout, rtype: str | None = None, where: str = "EI"
) -> list[str]:
    """All differences between an EI (sub)tree and its XML twin; [] when they agree.

    Per record: the set of (xml path, value) pairs declared by the layout for the fields present in
    the EI record must equal the set of leaves of the paired XML element (child records excluded).
    Child records pair up in document order, per record type. Nothing is skipped silently: an XML
    leaf without an EI counterpart, or an EI value without an XML leaf, is a difference.
    """
    problems: list[str] = []
    skip: set[etree._Element] = set()
    pairs = []
    for rec, path in _child_records(msg, rtype):
        if path is None:
            assert rec.record_type == "99", f"record {rec.record_type} has no xml path"
            continue
        ei_kids = [c for c in ei if c.tag == rec.name]
        xml_kids = _xml_find(xml, path)
        skip.update(xml_kids)
        if len(ei_kids) != len(xml_kids):
            problems.append(f"{where}: {len(ei_kids)} {rec.name} record(s), XML has {len(xml_kids)} {path}")
        for i, (e, x) in enumerate(zip(ei_kids, xml_kids, strict=False)):
            pairs.append((e, x, rec.record_type, f"{where}/{rec.name}[{i + 1}]"))
    if rtype is not None:
        rec = msg.records[rtype]
        expected = {f.xml: ei.findtext(f.name) for f in rec.fields if f.xml and ei.find(f.name) is not None}
        actual = _xml_leaves(xml, skip)
        for path in sorted(set(expected) | set(actual)):
            if expected.get(path) != actual.get(path):
                problems.append(f"{where} {path}: EI {expected.get(path)!r} != XML {actual.get(path)!r}")
    for e, x, t, w in pairs:
        problems += compare_with_xml(e, x, msg, t, w)
    return problems


def _twin(xml_path: Path, layouts: EiLayouts) -> tuple[etree._Element, etree._Element, MessageLayout]:
    ei = parse_ei((EI_DIR / (xml_path.stem + ".ei")).read_bytes(), layouts, xml_path.stem)
    return ei, etree.parse(str(xml_path)).getroot(), layouts.message(ei.get("berichtcode"))


@pytest.mark.parametrize("xml_path", XML_TWINS)
def test_xml_twin_has_the_same_values(xml_path: Path, layouts: EiLayouts) -> None:
    ei, xml, msg = _twin(xml_path, layouts)
    assert _xml_find(xml, "Header/Berichtspecificatie/Code")[0].text == ei.get("berichtcode")
    assert compare_with_xml(ei, xml, msg) == []
    # and the comparison really looked at the values: every XML leaf was matched by a mapped EI field
    by_name = {r.name: r for r in msg.records.values()}
    mapped = [el for el in ei.iter() if not len(el) and by_name[el.getparent().tag].field(el.tag).xml is not None]
    leaves = [el for el in xml.iter() if isinstance(el.tag, str) and not len(el)]
    assert len(mapped) == len(leaves) > 10


def test_comparison_catches_a_wrong_position(layouts: EiLayouts, tmp_path: Path) -> None:
    _need_ref()
    xml_path = XML_DIR / "CasusA-02-WMO301_toewijzing.xml"
    # 1. the same layout with two date fields of record 09 swapped
    raw = yaml.safe_load(LAYOUT_FILE.read_text())
    fields = {f["name"]: f for f in raw["messages"]["414"]["records"]["09"]["fields"]}
    fields["Ingangsdatum"]["start"], fields["Einddatum"]["start"] = 72, 64
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    ei, xml, msg = _twin(xml_path, load_layouts(bad))
    problems = compare_with_xml(ei, xml, msg)
    assert any("BeschiktProduct[1] Ingangsdatum" in p for p in problems), problems
    assert any("BeschiktProduct[1] Einddatum" in p for p in problems), problems
    # 2. the right layout, but one digit of the Volume of record 15 changed
    lines = _lines("CasusA-02-WMO301_toewijzing.ei")
    lines[7] = _put(lines[7], 114, "7")
    ei = parse_ei(_data(lines), layouts)
    problems = compare_with_xml(ei, etree.parse(str(xml_path)).getroot(), layouts.message("414"))
    assert problems == ["EI/Client[1]/Beschikking[1]/ToegewezenProduct[1] Omvang/Volume: EI '7' != XML '6'"]


# --------------------------------------------------------------------------------------------------
# Line endings, encoding, multi-client files


def test_line_endings_and_final_newline(layouts: EiLayouts) -> None:
    lines = _lines("CasusE-01-WMO305_correctie.ei")
    expected = etree.tostring(parse_ei(_data(lines), layouts))
    for data in (
        _data(lines, "\r\n"),
        _data(lines, final=False),
        _data(lines, "\r\n", final=False),
        _data(lines) + b"\n\n",  # trailing blank lines after 99
        b"\xef\xbb\xbf" + _data(lines),  # UTF-8 byte order mark
        _data(lines) + b"\x1a",  # DOS EOF marker
    ):
        root = parse_ei(data, layouts)
        assert etree.tostring(root) == expected
        assert [p.sourceline for p in root.iter("StartProduct")] == [3, 4]


def test_latin1_text_is_kept(layouts: EiLayouts) -> None:
    lines = _lines("CasusB-02-WMO305_start.ei")
    lines[1] = _put(lines[1], 58, "Müller   ")
    root = parse_ei(_data(lines), layouts)
    assert root.find("Client").findtext("Geslachtsnaam") == "Müller"
    # the same name in UTF-8 is one byte longer: reported, not shifted
    with pytest.raises(EiError, match="length 181, expected 180") as exc:
        parse_ei(b"\n".join(ln.encode("utf-8") for ln in lines), layouts)
    assert exc.value.line == 2


def test_several_clients_and_beschikkingen(layouts: EiLayouts) -> None:
    lines = _lines("CasusA-02-WMO301_toewijzing.ei")
    head, detail = lines[0], lines[1:8]
    second = [
        _put(_put(detail[0], 15, "111222333"), 25, "0000111222333"),
        *[_put(ln, 15, "0000111222333") for ln in detail[1:]],
    ]
    extra = [_put(ln, 39, "000000000999999999") for ln in second[4:]]  # a second 08 + 09 + 15
    sluit = "99" + "".join(f"{n:06d}" for n in (2, 2, 4, 0, 3, 3, 0, 3, 0)) + f"{17:07d}"
    all_lines = _renumber([head, *detail, *second, *extra, sluit.ljust(310)])
    root = parse_ei(_data(all_lines), layouts)
    c1, c2 = root.findall("Client")
    assert (c1.findtext("Bsn"), c2.findtext("Bsn")) == ("123456782", "111222333")
    assert c2.sourceline == 9
    assert c2.find("Relatie/Adres").sourceline == 11 and c2.find("Adres").sourceline == 12
    b1, b2 = c2.findall("Beschikking")
    assert (b1.findtext("Beschikkingnummer"), b2.findtext("Beschikkingnummer")) == ("425386123", "999999999")
    assert [p.sourceline for p in b2] == [16, 16, 16, 16, 16, 17, 18]
    assert len(c1.findall("Beschikking")) == 1 and len(c1.findall("Beschikking/BeschiktProduct")) == 1


def test_line_numbers_beyond_libxml2_limit(layouts: EiLayouts) -> None:
    lines = _lines(B02)
    n = MAX_SOURCELINE + 5  # products; the file gets n + 3 lines
    body = [lines[2]] * n
    sluit = ("99" + f"{1:06d}{n:06d}{n + 1:07d}").ljust(180)
    data = _data(_renumber([lines[0], lines[1], *body, sluit]))
    root = parse_ei(data, layouts)
    products = root.find("Client").findall("StartProduct")
    assert len(products) == n
    last_small = products[MAX_SOURCELINE - 3]
    assert last_small.sourceline == MAX_SOURCELINE and last_small.get("line") is None
    big = products[-1]
    assert big.get("line") == str(n + 2) and source_line(big) == n + 2
    assert source_line(big.find("Code")) == n + 2
    assert source_line(products[0].find("Code")) == 3 and source_line(root.find("Sluit")) == n + 3


# --------------------------------------------------------------------------------------------------
# Broken inputs

A02 = "CasusA-02-WMO301_toewijzing.ei"
B02 = "CasusB-02-WMO305_start.ei"


def _set(i: int, start: int, text: str) -> Callable[[list[str]], list[str]]:
    def mutate(lines: list[str]) -> list[str]:
        lines[i - 1] = _put(lines[i - 1], start, text)
        return lines

    return mutate


# fmt: off
BROKEN = [
    # id, sample, mutation, line, field, message fragments
    ("unknown-record-type", A02, _set(7, 1, "05"), 7, None, ["unknown record type for BerichtCode 414: found '05'"]),
    ("record-too-short", A02, lambda ls: [*ls[:2], ls[2][:-1], *ls[3:]], 3, None,
     ["length 309", "expected 310"]),
    ("record-too-long", B02, lambda ls: [*ls[:2], ls[2] + " ", *ls[3:]], 3, None,
     ["length 181", "expected 180"]),
    ("empty-line", A02, lambda ls: [*ls[:2], "", *ls[2:]], 3, None, ["length 0", "expected 310"]),
    ("non-numeric", A02, _set(2, 15, "12345678X"), 2, "Bsn",
     ["must be numeric", "found 9 characters: letters and digits", "15-23"]),
    ("non-numeric-volume", B02, _set(3, 88, "0000 225"), 3, "Volume", ["must be numeric"]),
    ("invalid-date", A02, _set(2, 49, "19850231"), 2, "Geboortedatum",
     ["not a valid date YYYYMMDD: the day does not exist in its month"]),
    ("invalid-date-blank-part", B02, _set(3, 72, "2016031 "), 3, "Begindatum",
     ["not a valid date YYYYMMDD: found 8 characters: digits and spaces"]),
    ("invalid-time", A02, _set(8, 84, "246000"), 8, "Toewijzingstijd",
     ["not a valid time HHMMSS: the hour is more than 23"]),
    ("parent-missing", A02, lambda ls: _renumber([*ls[:5], *ls[6:]]), 6, None,
     ["record 09 (BeschiktProduct) needs a preceding 08 Beschikking"]),
    ("parent-missing-305", B02, lambda ls: _renumber([ls[0], *ls[2:]]), 2, None,
     ["record 07 (StartProduct) needs a preceding 02 Client"]),
    ("relatie-unknown", A02, _set(4, 39, "00000000002"), 4, "Relatienummer",
     ["refers to a Relatie by its Nummer, but no 03 record with that Nummer"]),
    ("relatie-duplicate", A02, lambda ls: _renumber([*ls[:3], ls[2], *ls[3:]]), 4, "Nummer",
     ["Relatie Nummer: the same Nummer already appeared on line 3"]),
    ("client-link", A02, _set(7, 15, "0000999999999"), 7, "Clientnummer",
     ["Clientnummer differs from the Clientnummer of the parent Beschikking record on line 6",
      "(both 9 digits, the first difference at character 1)"]),
    ("beschikking-link", A02, _set(8, 39, "000000000425386124"), 8, "Beschikkingnummer",
     ["(both 9 digits, the first difference at character 9)"]),
    ("beschikking-too-big", A02, _set(6, 39, "000000001000000000"), 6, "Beschikkingnummer",
     ["(positions 39-56) is more than the maximum 999999999"]),
    ("missing-01", A02, lambda ls: ls[1:], 1, None, ["missing 01 voorloop", "(found '02')"]),
    ("unknown-berichtcode", A02, _set(1, 3, "999"), 1, "BerichtCode",
     ["unknown BerichtCode in the voorloop: found '999'"]),
    ("wrong-versie", A02, _set(1, 6, "03"), 1, "Versie", ["must be '02', found '03'"]),
    ("second-01", A02, lambda ls: [*ls[:4], ls[0], *ls[4:]], 5, None, ["second 01 voorloop"]),
    ("missing-99", A02, lambda ls: ls[:-1], 8, None, ["missing 99 sluit"]),
    ("record-after-99", A02, lambda ls: [*ls, ls[1]], 10, None, ["after the 99 sluit record of line 9"]),
    ("sequence-skip", A02, _set(5, 3, "000000000005"), 5, "Volgnummer",
     ["sequence number out of order: expected 000000000004, found a higher number"]),
    ("sequence-not-numeric", B02, _set(2, 3, "00000000000A"), 2, "Volgnummer",
     ["expected 000000000001, found 12 characters: letters and digits"]),
    ("count-adressen", A02, _set(9, 15, "000003"), 9, "AantalAdressen",
     ["AantalAdressen says 3", "has 2 04 record(s)"]),
    ("count-total", A02, _set(9, 57, "0000008"), 9, "AantalDetailrecords", ["says 8", "has 7 detail"]),
    ("count-products", B02, _set(4, 9, "000002"), 4, "AantalProducten", ["says 2", "has 1 07 record(s)"]),
    ("reserve-not-blank", A02, _set(2, 300, "X"), 2, "Reserve176",
     ["positions 176-310 must be blank, found 1 letter at positions 300-300"]),
    ("control-character", A02, _set(2, 61, "\x00"), 2, None, ["control character", "position 61"]),
    # N is right-aligned and zero-padded: digits beside spaces are a shifted or left-aligned value, not a
    # number to guess at ("384 " is no gemeente 0384; "1     " no count of 1)
    ("numeric-left-aligned", A02, _set(1, 10, "384 "), 1, "Gemeentecode",
     ["Gemeentecode (positions 10-13) must be numeric, found 4 characters: digits and spaces (an N field is "
      "digits only: right-aligned and zero-padded)"]),
    ("numeric-space-padded", B02, _set(3, 88, "     225"), 3, "Volume", ["found 8 characters: digits and spaces"]),
    ("count-left-aligned", A02, _set(9, 3, "1     "), 9, "AantalClienten", ["an N field is digits only"]),
    # a counter of a record type the layout does not know says records are missing from the file
    ("count-unidentified", A02, _set(9, 21, "000003"), 9, "Onbekend21",
     ["Onbekend21 (positions 21-26) is more than the maximum 0"]),
    # 0x80-0x9F are C1 controls in ISO-8859-1: a Windows-1252 quote or euro sign, never a character of a name
    ("c1-control-character", A02, _set(2, 63, "\x92"), 2, None, ["control character '\\x92' at position 63"]),
    ("delete-character", A02, _set(2, 63, "\x7f"), 2, None, ["control character '\\x7f' at position 63"]),
]
# fmt: on


@pytest.mark.parametrize(
    ("sample", "mutate", "line", "field", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_broken_input(
    sample: str,
    mutate: Callable[[list[str]], list[str]],
    line: int,
    field: str | None,
    fragments: list[str],
    layouts: EiLayouts,
) -> None:
    data = _data(mutate(_lines(sample)))
    with pytest.raises(EiError) as exc:
        parse_ei(data, layouts, "broken.ei")
    err = exc.value
    assert isinstance(err, ValueError)
    assert (err.line, err.field) == (line, field), str(err)
    for fragment in fragments:
        assert fragment in err.message, err.message
    assert str(err).startswith(f"broken.ei:{line}")


def test_empty_input(layouts: EiLayouts) -> None:
    for data in (b"", b"\n"):
        with pytest.raises(EiError, match="empty input") as exc:
            parse_ei(data, layouts)
        assert exc.value.line == 1


def test_empty_rules(layouts: EiLayouts) -> None:
    lines = _lines(A02)
    lines[1] = _put(lines[1], 58, "0")  # Geslacht 0 = onbekend: empty: never keeps it
    lines[7] = _put(lines[7], 84, "000000")  # midnight is a time, not "empty"
    lines[7] = _put(lines[7], 106, "0")  # RedenIntrekking 0 = not filled
    lines[5] = _put(lines[5], 77, "        ")  # a blank N/date field is empty too
    root = parse_ei(_data(lines), layouts)
    assert root.find("Client").findtext("Geslacht") == "0"
    tp = root.find("Client/Beschikking/ToegewezenProduct")
    assert tp.findtext("Toewijzingstijd") == "00:00:00" and tp.find("RedenIntrekking") is None
    assert root.find("Client/Beschikking").find("Einddatum") is None
    assert root.find("Voorloop").findtext("SubVersie") == "0"  # fixed 00, strip_zeros keeps one digit


# --------------------------------------------------------------------------------------------------
# Sniffing


def test_looks_like_ei() -> None:
    lines = _lines(B02)
    assert looks_like_ei(_data(lines))
    assert looks_like_ei(_data(lines, "\r\n"))
    assert looks_like_ei(b"\xef\xbb\xbf" + _data(lines))
    assert not looks_like_ei(_data([_put(lines[0], 3, "999"), *lines[1:]]))  # unknown BerichtCode
    assert not looks_like_ei(_data([lines[0][:-1], *lines[1:]]))  # wrong length
    assert not looks_like_ei(_data([lines[0] + " " * 130, *lines[1:]]))  # 310 long, but 418 is 180
    assert not looks_like_ei(_data(lines[1:]))  # no voorloop
    assert not looks_like_ei(b'<?xml version="1.0"?><Bericht/>')
    assert not looks_like_ei(b"")
    assert not looks_like_ei(lines[0].encode())  # a single line without newline is not a file


# --------------------------------------------------------------------------------------------------
# Layout validation


def test_the_layouts_read_by_libyaml_are_those_of_the_python_reader() -> None:
    """ei_layout reads with libyaml's safe loader where PyYAML has it (a worker's warm-up, ~8x less CPU): the same
    data as the pure-Python safe loader, and the same layouts built from it."""
    from gateway.ingest import ei_layout

    text = LAYOUT_FILE.read_bytes()
    assert ei_layout._LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert yaml.load(text, Loader=ei_layout._LOADER) == yaml.safe_load(text)
    assert load_layouts(LAYOUT_FILE) == ei_layout.build_layouts(yaml.safe_load(text), str(LAYOUT_FILE))


def test_default_layouts_is_the_repo_file() -> None:
    lay = default_layouts()
    assert set(lay.messages) == {"414", "418", "420", "444"}
    assert {c: m.record_length for c, m in lay.messages.items()} == {
        "414": 310,
        "418": 180,
        "420": 140,
        "444": 180,
    }
    for msg in lay.messages.values():
        for rec in msg.records.values():
            for f in rec.fields:
                assert f.kind != "reserve" or f.xml is None


def _records(raw: dict, code: str = "414") -> dict:
    return raw["messages"][code]["records"]


def _field(raw: dict, rtype: str, name: str, code: str = "414") -> dict:
    return next(f for f in _records(raw, code)[rtype]["fields"] if f["name"] == name)


def _overlap(raw: dict) -> None:
    _field(raw, "09", "Eenheid")["start"] = 87


def _out_of_range(raw: dict) -> None:
    _field(raw, "99", "Reserve22", "420")["length"] = 120


def _gap(raw: dict) -> None:
    _records(raw)["09"]["fields"] = [f for f in _records(raw)["09"]["fields"] if f["name"] != "Frequentie"]


def _unknown_kind(raw: dict) -> None:
    _field(raw, "02", "Bsn")["kind"] = "NUM"


def _missing_parent(raw: dict) -> None:
    _records(raw)["15"]["parent"] = "10"


def _unknown_empty(raw: dict) -> None:
    _field(raw, "02", "Bsn")["empty"] = "null"


def _typo_key(raw: dict) -> None:
    _field(raw, "08", "Einddatum")["lenght"] = 8


def _date_length(raw: dict) -> None:
    f = _field(raw, "08", "Einddatum")
    f["length"], f["kind"] = 9, "date"


def _bad_link(raw: dict) -> None:
    _records(raw)["09"]["link"] = ["Clientnummer", "Afgiftedatum"]


def _unquoted_type(raw: dict) -> None:
    _records(raw)[8] = _records(raw).pop("08")


def _cycle(raw: dict) -> None:
    _records(raw)["02"]["parent"] = "09"


def _bad_count(raw: dict) -> None:
    _field(raw, "99", "AantalRelaties")["count"] = ["05"]


def _zero_pad_on_n(raw: dict) -> None:
    _field(raw, "02", "Bsn")["zero_pad"] = 9


LAYOUT_ERRORS = [
    ("overlap", _overlap, ["414 record 09", "field Eenheid (positions 87-88) overlaps field Volume"]),
    ("out-of-range", _out_of_range, ["420 record 99 field Reserve22", "positions 22-141 are out of range"]),
    ("gap", _gap, ["414 record 09", "positions 90-90 are not covered"]),
    ("unknown-kind", _unknown_kind, ["414 record 02 field Bsn", "unknown kind 'NUM'"]),
    ("missing-parent", _missing_parent, ["414 record 15", "parent record type '10' is not declared"]),
    ("unknown-empty", _unknown_empty, ["record 02 field Bsn", "unknown empty rule 'null'"]),
    ("typo-key", _typo_key, ["record 08 field Einddatum", "unknown key(s) lenght"]),
    ("date-length", _date_length, ["record 08 field Einddatum", "date field has length 8"]),
    ("bad-link", _bad_link, ["record 09", "link field 'Afgiftedatum' is not a field of this record"]),
    ("unquoted-type", _unquoted_type, ["record type 8 must be a quoted string"]),
    ("cycle", _cycle, ["record 02", "parent cycle"]),
    ("bad-count", _bad_count, ["record 99 field AantalRelaties", "unknown record type '05'"]),
    ("zero-pad-on-n", _zero_pad_on_n, ["record 02 field Bsn", "zero_pad is for strip_zeros AN fields"]),
]


@pytest.mark.parametrize(("mutate", "fragments"), [pytest.param(*c[1:], id=c[0]) for c in LAYOUT_ERRORS])
def test_layout_validation(mutate: Callable[[dict], None], fragments: list[str], tmp_path: Path) -> None:
    raw = yaml.safe_load(LAYOUT_FILE.read_text())
    mutate(raw)
    path = tmp_path / "layout.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError) as exc:
        load_layouts(path)
    for fragment in fragments:
        assert fragment in str(exc.value), str(exc.value)
