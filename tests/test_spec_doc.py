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
