"""docs/canonical-spec.md must equal what the renderer does: its field table is generated."""

from __future__ import annotations

from pathlib import Path

from gateway.render.spec import BEGIN, END, table

DOC = Path(__file__).resolve().parents[1] / "docs" / "canonical-spec.md"


def test_canonical_spec_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    embedded = text[text.index(BEGIN): text.index(END) + len(END)]
    assert embedded == table(), "regenerate: python -m gateway.render.spec (and paste it into the doc)"


def test_every_canonical_leaf_has_a_stuf_place() -> None:
    rows = table().splitlines()
    body = [r for r in rows if r.startswith("| `")]
    assert len(body) > 100
    assert all(r.rstrip(" |").split(" | ")[-1].strip() for r in body)


def test_the_fast_extra_element_writer_agrees_with_the_documented_names() -> None:
    from lxml import etree

    from gateway.pipeline import FAILURES, Converter
    from gateway.render.zkn import extra_elements, stuf_value

    converter = Converter()
    fixtures = sorted((Path(__file__).parent / "fixtures").rglob("*.xml"))
    checked = 0
    for path in fixtures:
        try:
            conversion = converter.convert(path.read_bytes(), path.name)
        except FAILURES:  # fixtures of deliberately bad cases are not this test's business
            continue
        for index, output in enumerate(conversion.outputs):
            root = etree.fromstring(output.xml)
            written = [(e.get("naam"), e.text or "") for e in root.iter("{http://www.egem.nl/StUF/StUF0301}extraElement")]
            bericht = conversion.bericht
            expected = [(n, stuf_value(v)) for n, v in extra_elements(bericht, bericht.clients[index])]
            assert written == expected, path.name
            checked += 1
    assert checked > 20
