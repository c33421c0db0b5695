"""docs/canonical-spec.md must equal what the renderer does: its field and extraElement tables are generated."""

from __future__ import annotations

from pathlib import Path

from gateway.render.spec import BEGIN, END, table
from gateway.zaken.registry import registered

DOC = Path(__file__).resolve().parents[1] / "docs" / "canonical-spec.md"


def test_canonical_spec_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    embedded = text[text.index(BEGIN): text.index(END) + len(END)]
    assert embedded == table(), "regenerate: python -m gateway.render.spec (and paste it into the doc)"


def test_every_canonical_leaf_has_a_stuf_place() -> None:
    rows = table().split("### Registered")[0].splitlines()
    body = [r for r in rows if r.startswith("| `")]
    assert len(body) > 100
    assert all(r.rstrip(" |").split(" | ")[-1].strip() for r in body)


def test_registered_extra_element_names_are_flat_and_unique() -> None:
    names = [e["naam"] for e in registered()]
    assert len(names) == len(set(names))
    assert not [n for n in names if any(part.isdigit() for part in n.split("."))]
    assert all(e.get("type") and e.get("bron") and e.get("betekenis") for e in registered())
