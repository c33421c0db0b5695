"""overstap explain: lineage per canonical field, the StUF place of each, and the source elements left unused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main
from gateway.mapping import Registry, default_dirs
from gateway.mapping.registry import discover
from gateway.model import mask_bsns
from gateway.pipeline import Converter
from gateway.reference import reference_dir
from gateway.tooling.explain import explain
from gateway.tooling.mappingtest import case_path

SAMPLE = reference_dir() / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
needs_sample = pytest.mark.skipif(not SAMPLE.is_file(), reason="reference samples absent")
NS = {"ZKN": "http://www.egem.nl/StUF/sector/zkn/0310", "StUF": "http://www.egem.nl/StUF/StUF0301",
      "BG": "http://www.egem.nl/StUF/sector/bg/0310"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


def _leaves_with_text(data: bytes) -> dict[int, str]:
    root = etree.fromstring(data)
    return {el.sourceline: etree.QName(el).localname for el in root.iter(etree.Element)
            if not len(el) and el.text and el.text.strip()}


@needs_sample
def test_explain_casus_a02_shows_every_source_element_with_its_line(registry: Registry) -> None:
    data = SAMPLE.read_bytes()
    ex = explain(data, SAMPLE.name, registry=registry)
    assert ex.mapping.name == "iwmo20-wmo301"
    assert ex.unmapped == []
    by_line = {row.line: row for row in ex.rows if row.line}
    more = {int(m) for row in ex.rows for m in re.findall(r"\(line (\d+)\)", row.source)}
    leaves = _leaves_with_text(data)
    assert set(by_line) | more == set(leaves)  # every valued source element is a row, and no row invents a line
    for line, row in by_line.items():
        assert row.source.split(" + ")[0].rsplit(":", 1)[-1] == leaves[line], (line, row)
    bsn = by_line[19]
    assert (bsn.field, bsn.value, bsn.rule) == ("clients.0.bsn", "*******82", "wmo301.yaml:74")
    assert bsn.stuf == ("ZKN:object/ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/BG:inp.bsn",)
    volume = by_line[120]
    assert volume.field == "clients.0.producten.0.omvang.volume"
    assert volume.stuf == ('StUF:extraElement naam="product.omvang.volume"',)  # flat and registered: no index
    geslacht = by_line[25]
    assert geslacht.steps == "map geslacht"
    versie = next(r for r in ex.rows if r.field == "versie")
    assert versie.steps == "join(.)" and versie.value == "2.0"
    assert versie.source.endswith("iwmo:Versie + /wmo301:Bericht/wmo301:Header/wmo301:Berichtspecificatie/"
                                  "iwmo:SubVersie (line 7)")
    constants = [r for r in ex.rows if r.source.startswith("constant")]
    assert {r.field for r in constants} == {"wet", "soort", "clients.0.producten.0.leveringsvorm"}


@needs_sample
def test_explain_lists_an_element_whose_rule_was_removed(tmp_path: Path, registry: Registry) -> None:
    derived = tmp_path / "zonder-leefeenheid.yaml"
    derived.write_text(
        "overstap-mapping: 1\nname: zonder-leefeenheid\nextends: iwmo20-wmo301\n"
        "rules:\n  clients:\n    rules:\n      leefeenheid: null\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["explain", str(SAMPLE), "--mapping", str(derived)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].endswith(f"mapping zonder-leefeenheid ({derived})")
    assert "1 source element(s) no rule used (possible data loss):" in lines
    assert "  line 34: /wmo301:Bericht/wmo301:Clienten/wmo301:Client/wmo301:Leefeenheid" in lines
    assert not any(line.startswith("clients.0.leefeenheid ") for line in lines)
    (geheim,) = [line for line in lines if line.startswith("clients.0.geheim ")]
    assert re.fullmatch(r"clients\.0\.geheim +20 +wmo301\.yaml:\d+ +- +2 +← "  # source line 20, value 2
                        r"/wmo301:Bericht/wmo301:Clienten/wmo301:Client/wmo301:GeheimeClient +→ "
                        r'StUF:extraElement naam="client\.geheim"', geheim), geheim


@needs_sample
def test_explain_cli_by_name_prints_the_table(registry: Registry) -> None:
    result = CliRunner().invoke(main, ["explain", str(SAMPLE), "--mapping", "iwmo20-wmo301"])
    assert result.exit_code == 0, result.output
    assert "123456782" not in "\n".join(line for line in result.output.splitlines() if "bsn" in line)
    assert "Every source element with a value was used by a rule or ignored on purpose." in result.output


@needs_sample
def test_explain_masks_a_bsn_in_any_field(tmp_path: Path, registry: Registry) -> None:
    """Why: CasusA-02's Clientnummer is the client's BSN, and a vendor may store one without its leading zero
    (eight digits) or put it in a remark; explain (and the console's lineage) masked only fields named bsn."""
    data = SAMPLE.read_bytes().replace(b"<wmo301:Bsn>123456782</wmo301:Bsn>",
                                       b"<wmo301:Bsn>012345672</wmo301:Bsn>")
    data = data.replace(b"<wmo301:Clientnummer>123456782<", b"<wmo301:Clientnummer>12345672<")
    source = tmp_path / "bsn-elsewhere.xml"
    source.write_bytes(data)
    for ex_data, name in ((SAMPLE.read_bytes(), SAMPLE.name), (data, source.name)):
        rows = {r.field: r.value for r in explain(ex_data, name, registry=registry).rows}
        assert rows["clients.0.clientnummer"] in ("*******82", "******72"), name  # never the whole number
    result = CliRunner().invoke(main, ["explain", str(SAMPLE)])
    assert result.exit_code == 0 and "123456782" not in result.output
    assert mask_bsns("bsn 123456782, oud 12345672, agb 98025566, 1234567890") == \
        "bsn *******82, oud ******72, agb 98025566, 1234567890"
    # written in groups, behind a gemeentecode, with a zero too many; a date of eight digits is no BSN
    assert [mask_bsns(t) for t in ("123.456.782", "123 456 782", "1234.56.782", "0384 123456782", "0123456782",
                                   "2016-02-15", "1²3²5²7²9")] == \
        ["***.***.*82", "*** *** *82", "****.**.*82", "0384 *******82", "********82", "2016-02-15", "1²3²5²7²9"]


def test_explain_cli_reports_a_failure(tmp_path: Path) -> None:
    bad = tmp_path / "x.xml"
    bad.write_bytes(b"<Onbekend/>")
    result = CliRunner().invoke(main, ["explain", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith(f"FAIL {bad}:1: dialect: unknown dialect")


def _test_inputs() -> list[tuple[str, Path]]:
    """Every input of every mapping file's tests: cases that is expected to convert."""
    out = []
    registry = Registry()
    for path in discover(default_dirs()):
        compiled = registry.get(str(path))
        for case in compiled.tests:
            if "expect_error" in case:
                continue
            source, _ = case_path(compiled, case, "input", case["input"])
            if source.is_file():
                out.append((compiled.name, source))
    return out


def _exists(root: etree._Element, place: str) -> bool:
    if place.startswith("StUF:extraElement "):
        name = place.split(" (", 1)[0].split('naam="', 1)[1].rstrip('"')
        return bool(root.xpath("//StUF:extraElement[@naam=$n]", namespaces=NS, n=name))
    path = place.split(" ", 1)[0]
    if path.startswith("ZKN:object/"):
        path = path[len("ZKN:object/"):]
    hits = root.xpath(path, namespaces=NS) or root.xpath(f"ZKN:object[last()]/{path}", namespaces=NS)
    return bool(hits)


CONDITIONAL = ("unless", "when", "without", "305/307", "not in", "only")
"""Annotations of places the renderer fills only under a condition (gateway/render/zkn_places.py)."""
CREATING = ("toewijzing", "verzoek", "verzoek-wijziging")
"""Families whose first conversion creates zaken, where every place of the zaak can be looked for."""


@pytest.mark.parametrize(("mapping", "source"), _test_inputs(), ids=lambda v: getattr(v, "name", v))
def test_every_claimed_stuf_place_exists_in_the_rendered_zaklk01(mapping: str, source: Path,
                                                                 registry: Registry) -> None:
    data = source.read_bytes()
    ex = explain(data, source.name, registry=registry, mapping=mapping)
    converter = Converter(registry, mappings=[mapping])
    soort = converter.to_model(data, source.name)[2].bericht.soort
    if soort not in CREATING:  # starts, stops, retours: statuses or nothing (docs/canonical-spec.md 3)
        pytest.skip(f"{soort}: no zaak is created, so zaak places are not there to find")
    conversion = converter.convert(data, source.name)
    roots = [etree.fromstring(o.xml) for o in conversion.outputs]  # creeerZaak, and the end of a withdrawn one
    checked = 0
    for row in ex.rows:
        for place in row.stuf:
            note = place.split(" (", 1)[1] if " (" in place else ""
            if not place.startswith(("ZKN:", "StUF:")) or any(word in note for word in CONDITIONAL):
                continue  # an explanation (not carried, chain key), or a place filled only under a condition
            if row.field.endswith("verzoek_groep") and row.value == "ongewijzigd":
                continue  # an ongewijzigd 317 line asks for nothing: no aanvraagzaak
            assert any(_exists(root, place) for root in roots), (row.field, place)
            checked += 1
    assert checked >= len(ex.rows) // 2  # most rows name a place that must be there


def test_explain_marks_a_value_dropped_under_lenient() -> None:
    folder = Path(__file__).resolve().parents[1] / "mappings/examples/dutch-formats"
    source = folder / "fixtures/onbekend-naamgebruik.xml"
    registry = Registry(files=[folder / "mapping.yaml"])  # an example mapping: opted in by naming its file
    ex = explain(source.read_bytes(), source.name, registry=registry)
    (row,) = [r for r in ex.rows if r.field == "clients.0.naam.naamgebruik"]
    assert row.value == "dubbele naam (dropped: see warnings)" and row.stuf == ()
    assert row.steps == "trim → lower → map naamgebruik"
    assert [w.field for w in ex.warnings] == ["clients.0.naam.naamgebruik"] * 2


def test_digits_that_are_not_decimal_are_no_bsn_and_crash_no_mask() -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` fails: a sender's remark of such characters crashed the 11-proef, and
    with it the masks of explain, discover and mapping test."""
    from gateway.discover.shapes import personal
    from gateway.model import bsn_is_valid, is_agb
    from gateway.tooling.mappingtest import masked_value

    assert not bsn_is_valid("1²3²5²7²9") and bsn_is_valid("123456782") and not is_agb("1²345678")
    assert masked_value("x.opmerking", "1²3²5²7²9") == "'1²3²5²7²9'"
    assert personal("opmerking", "1²3²5²7²9") is False
