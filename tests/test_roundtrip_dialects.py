"""Round trip through every dialect: dialect -> canonical -> the same dialect gives back every mapped field.

For every fixture that a mapping of the repository converts (tests/fixtures, the examples' fixtures and,
when the reference folder is present, the public iWmo 2.0 XML and EI samples) the canonical message is
written back with ``gateway.mapping.reverse.unmap`` through the *same* mapping (an EI dialect on to a
flat file with ``write_ei``), the written message is detected and converted again, and the two canonical
messages must be equal. A field that legitimately does not come back is listed below with its reason;
every listed loss must still occur (the list cannot go stale) and must be a value left out, never a
changed one. Written iWmo 2.1 messages must validate against the official XSD. Two negative tests
prove the check fails when a field is lost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from gateway.ingest.ei import default_layouts
from gateway.ingest.ei_write import write_ei
from gateway.mapping import Compiled, ConversionError, Registry, default_dirs
from gateway.mapping.reverse import Reversed, unmap
from gateway.model import Bericht
from gateway.pipeline import Conversion, Converter
from gateway.reference import reference_dir
from gateway.render.schemas import errors_of, iwmo_kind

REPO = Path(__file__).resolve().parents[1]
SAMPLES = reference_dir() / "samples"

REPO_FIXTURES = sorted(p.relative_to(REPO).as_posix() for p in [
    *(REPO / "tests" / "fixtures").rglob("*.xml"), *(REPO / "mappings" / "examples").glob("*/fixtures/*.xml")])
REFERENCE_FIXTURES = sorted(
    f"{folder}/{p.name}" for folder in ("iwmo20-xml", "iwmo-ei") if (SAMPLES / folder).is_dir()
    for p in (SAMPLES / folder).iterdir()) or ["reference-absent"]

NOT_CONVERTED = {
    "mappings/examples/dutch-formats/fixtures/halve-uren.xml":
        "negative example of its mapping's tests: '2,5' hours is not a whole WMO756 volume",
    "mappings/examples/dutch-formats/fixtures/onbekende-frequentie.xml":
        "negative example of its mapping's tests: an unknown frequency word is refused",
    "mappings/examples/flat-no-namespace/fixtures/onbekend-geslacht.xml":
        "negative example of its mapping's tests: sex code 'X' is not in the value map",
    "mappings/examples/regie-attributes/fixtures/onvolledige-minuten.xml":
        "negative example of its mapping's tests: 1,01 uur is not a whole number of minutes",
    "mappings/examples/regie-attributes/fixtures/declaratie.xml":
        "a 303 declaratie: no mapping converts it (the example recognises 301 only)",
    "mappings/examples/vendor-extensions/fixtures/onbekende-productcode.xml":
        "negative example of its mapping's tests: a product code outside the vendor's CSV",
}
"""Fixtures that are meant not to convert: there is nothing to write back."""

_TIJDSTIP = ("z:Tijdstip holds date and time in one text ('05-03-2024 14:05') that two extract rules read; no "
             "rule can write one element from two canonical fields, so both are left out on the way back")
LOSSES: dict[str, dict[str, str]] = {
    "example-dutch-formats": {
        "clients.*.producten.*.toewijzingsdatum": _TIJDSTIP,
        "clients.*.producten.*.toewijzingstijd": _TIJDSTIP,
    },
}
"""Canonical fields (``*`` = any index) that do not come back through a mapping, with the reason."""

DERIVED: dict[str, dict[str, str]] = {
    "example-dutch-formats": {
        "clients.*.producten.*.categorie": "substring [0, 2] of z:Product: not written by its own rule, but the "
                                           "code rule writes z:Product, so the categorie reads back from it",
    },
}
"""Canonical fields no rule writes back (``unplaced``) that still come back, derived from another field."""

_GESLACHT_20 = "value map geslacht maps several codes onto one"
ONE_WAY: dict[str, list[str]] = {
    # 2.0-era lists know 9 (niet gespecificeerd) besides 0 (onbekend); both are canonical 0, written back as 0
    **{name: [f"clients[].geslacht ({_GESLACHT_20})", f"clients[].relaties[].geslacht ({_GESLACHT_20})"]
       for name in ("iwmo20-wmo301", "example-vendor-extensions")},
    **{name: [f"clients[].geslacht ({_GESLACHT_20})"]
       for name in ("iwmo20-wmo305", "iwmo20-wmo307", "iwmo20-wmo315", "iwmo20-ei-wmo305", "iwmo20-ei-wmo307",
                    "iwmo20-ei-wmo315")},
    # Grondslag01/02: the grondslagen present, in order; one grondslag comes back in Grondslag01 (not a loss)
    "iwmo20-ei-wmo301": [f"clients[].geslacht ({_GESLACHT_20})", f"clients[].relaties[].geslacht ({_GESLACHT_20})",
                         "clients[].beschikking.grondslagen (several paths)"],
    **{name: ["clients[].beschikking.grondslagen (several paths)"]
       for name in ("iwmo21-wmo301", "iwmo21-wmo302", "ijw21-jw301", "ijw21-jw302")},
    # substring: see DERIVED; extract: see LOSSES
    "example-regie-attributes": ["clients[].producten[].categorie (substring)",
                                 "clients[].producten[].omvang.volume (extract)",
                                 "clients[].producten[].omvang.frequentie (extract)"],
    "example-dutch-formats": ["clients[].producten[].categorie (substring)",
                              "clients[].producten[].toewijzingsdatum (extract)",
                              "clients[].producten[].toewijzingstijd (extract)"],
}
"""Compiled.one_way of every mapping that has one: the rules ``mapping check`` reports as one-way."""


def _pattern(listed: str) -> re.Pattern[str]:
    return re.compile(r"[^.]+".join(re.escape(part) for part in listed.split("*")) + r"\Z")


def _listed(table: dict[str, dict[str, str]], mapping: str, path: str) -> str | None:
    """The entry of ``table`` that documents ``path`` for ``mapping`` (None: undocumented)."""
    return next((listed for listed in table.get(mapping, {}) if _pattern(listed).match(path)), None)


@dataclass(frozen=True, slots=True)
class Difference:
    path: str
    before: Any
    after: Any


def _differences(before: Any, after: Any, path: str = "") -> list[Difference]:
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for key in sorted(set(before) | set(after), key=str)
                for d in _differences(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True))
                for d in _differences(b, a, f"{path}.{i}")]
    return [] if before == after else [Difference(path, before, after)]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    name: str
    mapping: Compiled
    original: Bericht
    written: Reversed
    data: bytes
    again: Conversion

    @property
    def differences(self) -> list[Difference]:
        return _differences(self.original.model_dump(mode="json"), self.again.bericht.model_dump(mode="json"))


def round_trip(converter: Converter, data: bytes, name: str,
               tamper: Callable[[bytes], bytes] = lambda data: data) -> RoundTrip:
    """Map, write back through the same mapping, (optionally damage the written bytes,) map again. Mapping only:
    the round trip is dialect <-> canonical; a start or stop alone has no zaak to render (profile zkn v2)."""
    first = _mapped(converter, data, name)
    written = unmap(first.mapping, first.bericht)
    out = write_ei(written.root, default_layouts()) if first.mapping.format == "ei" else written.tostring()
    again = _mapped(converter, tamper(out), f"{name} (written back)")
    return RoundTrip(name, first.mapping, first.bericht, written, out, again)


def _mapped(converter: Converter, data: bytes, name: str) -> Conversion:
    source, mapping, result = converter.to_model(data, name)
    return Conversion(source, mapping, result.bericht, [], result.unmapped, result.warnings)


def check(rt: RoundTrip) -> None:
    """The round-trip property, with the documented exceptions and nothing else."""
    mapping = rt.mapping.name
    assert rt.again.mapping.name == mapping, "the written message must be recognised as its own dialect"
    differences = rt.differences
    undocumented = [d for d in differences if _listed(LOSSES, mapping, d.path) is None]
    assert not undocumented, f"{rt.name}: fields that do not come back through {mapping}: " + "; ".join(
        f"{d.path}: {d.before!r} -> {d.after!r}" for d in undocumented)
    changed = [d for d in differences if d.after is not None]
    assert not changed, f"{rt.name}: a documented loss must be a value left out, not changed: {changed}"
    if not differences:
        assert rt.again.bericht == rt.original
    unexplained = [p for p in rt.written.unplaced
                   if _listed(LOSSES, mapping, p) is None and _listed(DERIVED, mapping, p) is None]
    assert not unexplained, f"{rt.name}: {mapping} wrote no value for {unexplained}"


@functools.cache
def _converter() -> Converter:
    # every mapping of the repository, the examples opted in, compiled once (about half a second)
    return Converter(Registry([*default_dirs(), REPO / "mappings" / "examples"]))


@pytest.fixture(scope="module")
def converter() -> Converter:
    return _converter()


@functools.cache
def _case(where: str) -> RoundTrip:
    path = SAMPLES / where if where.startswith(("iwmo20-xml/", "iwmo-ei/")) else REPO / where
    return round_trip(_converter(), path.read_bytes(), where)


NOT_REVERSED = {"mappings/examples/regie-attributes/fixtures/toewijzing.xml"}
"""Fixtures whose mapping declares ``reverse:`` refused: tests/test_reverse_all.py checks it refuses cleanly."""


@pytest.mark.parametrize("fixture", [f for f in REPO_FIXTURES if f not in NOT_CONVERTED.keys() | NOT_REVERSED])
def test_every_repo_fixture_round_trips_through_its_own_dialect(fixture: str) -> None:
    check(_case(fixture))


@pytest.mark.parametrize("sample", REFERENCE_FIXTURES)
def test_every_public_sample_round_trips_through_its_own_dialect(sample: str, reference_dir: Path) -> None:
    rt = _case(sample)
    check(rt)
    if sample.startswith("iwmo-ei/"):  # the flat file itself comes back too (tests/test_ei_write.py: byte for byte)
        assert rt.data.rstrip(b"\n") == (SAMPLES / sample).read_bytes().rstrip(b"\n")


@pytest.mark.parametrize("fixture", sorted(NOT_CONVERTED))
def test_the_fixtures_left_out_are_the_ones_meant_not_to_convert(fixture: str, converter: Converter) -> None:
    with pytest.raises(ConversionError):
        converter.convert((REPO / fixture).read_bytes(), fixture)


def test_every_written_21_message_is_valid_against_the_official_xsd(reference_dir: Path) -> None:
    validated = []
    for where in [*REPO_FIXTURES, *REFERENCE_FIXTURES]:
        if where in NOT_CONVERTED.keys() | NOT_REVERSED:
            continue
        rt = _case(where)
        kind = iwmo_kind(rt.mapping.wet, rt.mapping.versie, rt.mapping.bericht)
        if kind is not None:
            assert errors_of(etree.fromstring(rt.data), kind) == [], where
            validated.append(kind)
    assert sorted(set(validated)) == ["iwmo21-301", "iwmo21-302", "iwmo21-305", "iwmo21-307", "iwmo21-315",
                                      "iwmo21-316"]
    assert len(validated) == sum(f.startswith("tests/fixtures/iwmo21/") for f in REPO_FIXTURES) == 16


def test_every_mapping_of_the_repository_has_a_fixture_that_round_trips(reference_dir: Path) -> None:
    covered = {_case(where).mapping.name for where in [*REPO_FIXTURES, *REFERENCE_FIXTURES]
               if where not in NOT_CONVERTED.keys() | NOT_REVERSED}
    assert covered == {m.name for m in _converter().registry.all()
                       if not (m.reverse_refused or m.abstract or m.refuse)}


def test_every_documented_loss_occurs() -> None:
    seen = {(rt.mapping.name, listed) for rt in map(_case, [f for f in REPO_FIXTURES
                                                             if f not in NOT_CONVERTED.keys() | NOT_REVERSED])
            for d in rt.differences if (listed := _listed(LOSSES, rt.mapping.name, d.path))}
    assert seen == {(mapping, listed) for mapping, entries in LOSSES.items() for listed in entries}


def test_the_one_way_rules_are_the_known_ones() -> None:
    found = {m.name: m.one_way for m in _converter().registry.all() if m.one_way}
    assert found == ONE_WAY


# --------------------------------------------------------------------------------------------------
# The check fails when a round trip loses a field


FIXTURE_21 = REPO / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"


def test_a_field_lost_in_the_written_message_fails_the_round_trip(converter: Converter) -> None:
    def drop_voorletters(data: bytes) -> bytes:
        root = etree.fromstring(data)
        (element,) = root.xpath("//*[local-name()='Client']/*[local-name()='Naam']/*[local-name()='Voorletters']")
        element.getparent().remove(element)
        return etree.tostring(root)

    check(round_trip(converter, FIXTURE_21.read_bytes(), "a02"))  # untouched: passes
    damaged = round_trip(converter, FIXTURE_21.read_bytes(), "a02", tamper=drop_voorletters)
    with pytest.raises(AssertionError, match=r"do not come back through iwmo21-wmo301: clients\.0\.naam\.voorletters: "
                                             r"'DHR' -> None"):
        check(damaged)


def test_a_mapping_that_cannot_write_a_field_back_fails_the_round_trip(tmp_path: Path) -> None:
    lossy = tmp_path / "lossy.yaml"
    lossy.write_text(
        "overstap-mapping: 1\nname: test-lossy-301\nextends: iwmo21-wmo301\n"
        "rules:\n  clients:\n    rules:\n"
        "      naam.voorletters: {path: m:Naam/i:Voorletters, transform: {substring: [0, 6]}}\n", encoding="utf-8")
    registry = Registry(files=[lossy])
    rt = round_trip(Converter(registry, mappings=["test-lossy-301"]), FIXTURE_21.read_bytes(), "a02")
    assert rt.written.one_way == ["clients.0.naam.voorletters (transform without a reverse: substring)"]
    with pytest.raises(AssertionError, match=r"clients\.0\.naam\.voorletters: 'DHR' -> None"):
        check(rt)


def test_a_field_blanked_in_the_written_flat_file_fails_the_round_trip(converter: Converter,
                                                                      reference_dir: Path) -> None:
    def blank_the_voorletters(data: bytes) -> bytes:
        lines = data.split(b"\n")
        assert lines[1][131:137] == b"DHR   "  # 02 record, positions 132-137
        lines[1] = lines[1][:131] + b" " * 6 + lines[1][137:]
        return b"\n".join(lines)

    sample = (SAMPLES / "iwmo-ei" / "CasusA-02-WMO301_toewijzing.ei").read_bytes()
    check(round_trip(converter, sample, "a02.ei"))
    with pytest.raises(AssertionError, match=r"clients\.0\.naam\.voorletters: 'DHR' -> None"):
        check(round_trip(converter, sample, "a02.ei", tamper=blank_the_voorletters))
