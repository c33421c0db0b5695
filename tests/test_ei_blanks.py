"""An EI field's own blanks and zeros are kept or reported, never dropped without a word.

Why: an AN field is left-aligned and space-padded (notes/ei-flat-format.md 1), so only its trailing spaces
are padding. The parser trimmed both sides (and Python's strip takes U+00A0 too), and a Clientnummer lost
every leading zero and got four back on the way out: ``00123456782`` came back as ``0000123456782``, and
EI -> XML -> EI was not byte-equal. Now the tree keeps a value's own leading spaces and trailing U+00A0 (the
EI writer gives them back) and a conversion reports them, because canonical values are trimmed; a
Clientnummer's zeros are padding only when they fill it to the layout's ``zero_pad`` width (13).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from shared_registry import shared_registry

from gateway.ingest.ei import TRIMMED, default_layouts, parse_ei
from gateway.ingest.ei_layout import load_layouts
from gateway.ingest.ei_write import _field_text, write_ei
from gateway.pipeline import Converter

LAYOUT_FILE = Path(__file__).resolve().parents[1] / "dialects" / "ei" / "iwmo20-ei.yaml"


@pytest.fixture(scope="module")
def sample(reference_dir: Path) -> bytes:
    """A public 301 in EI: client name ``Gaastra`` at line 2 bytes 60-84, relatie ``Mistral`` on line 3."""
    return (reference_dir / "samples" / "iwmo-ei" / "CasusA-04-WMO301_intrekking.ei").read_bytes()


def blanks(sample: bytes) -> bytes:
    return sample.replace(b"Gaastra ", b"  Gaastr", 1).replace(b"Mistral ", b"Mistral\xa0", 1)


def there_and_back(data: bytes) -> bytes:
    """EI -> iWmo 2.0 XML -> EI, as ``overstap convert --reverse`` does it twice."""
    converter = Converter(shared_registry())
    xml = converter.reverse(data, "iwmo20-wmo301", "x.ei")[0]
    return converter.reverse(xml.xml, "iwmo20-ei-wmo301", "x.xml")[0].xml


def test_the_tree_keeps_a_values_own_blanks_and_the_writer_gives_them_back(sample: bytes) -> None:
    layouts = default_layouts()
    root = parse_ei(blanks(sample), layouts)
    assert [e.text for e in root.iter("Geslachtsnaam")] == ["  Gaastr", "Mistral\u00a0"]
    assert write_ei(root, layouts) == blanks(sample)


def test_a_conversion_reports_the_blanks_the_canonical_model_trims(sample: bytes) -> None:
    converted = Converter(shared_registry()).convert(blanks(sample), "x.ei")
    assert [(w.rule, w.field, w.line, w.message) for w in converted.warnings if w.rule == "ei:blanks"] == [
        ("ei:blanks", "Client/Geslachtsnaam", 2, TRIMMED), ("ei:blanks", "Client/Relatie/Geslachtsnaam", 3, TRIMMED)]
    assert converted.bericht.clients[0].naam.geslachtsnaam.naam == "Gaastr"
    reversal = Converter(shared_registry()).reverse(blanks(sample), "iwmo20-wmo301", "x.ei")[0]
    assert reversal.normalised[:2] == [f"Client/Geslachtsnaam (line 2): {TRIMMED}",
                                       f"Client/Relatie/Geslachtsnaam (line 3): {TRIMMED}"]


def test_padding_alone_is_no_report(sample: bytes) -> None:
    assert [w for w in Converter(shared_registry()).convert(sample, "x.ei").warnings if w.rule == "ei:blanks"] == []


def test_a_clientnummer_keeps_zeros_that_are_its_own(sample: bytes) -> None:
    own = sample.replace(b"0000123456782", b"00123456782  ")  # 11 digits: not the 13 the layout pads to
    assert Converter(shared_registry()).to_model(own, "x.ei")[2].bericht.clients[0].clientnummer == "00123456782"
    assert there_and_back(own) == own
    assert Converter(shared_registry()).to_model(sample, "x.ei")[2].bericht.clients[0].clientnummer == "123456782"
    assert there_and_back(sample) == sample


def test_the_writer_zero_fills_only_what_the_parser_strips_again() -> None:
    layouts = default_layouts()
    field = next(f for f in layouts.messages["414"].records["02"].fields if f.name == "Clientnummer")
    assert _field_text(field, "123456782", "x") == "0000123456782".ljust(24)
    assert _field_text(field, "012345678", "x") == "012345678".ljust(24)  # its own zero: written as it is


def test_strip_zeros_on_an_an_field_needs_zero_pad(tmp_path: Path) -> None:
    raw = yaml.safe_load(LAYOUT_FILE.read_text())
    fields = raw["messages"]["414"]["records"]["02"]["fields"]
    next(f for f in fields if f["name"] == "Clientnummer").pop("zero_pad")
    (tmp_path / "layout.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="strip_zeros on an AN field needs zero_pad"):
        load_layouts(tmp_path / "layout.yaml")
