"""The walk's shortcut for plain leaf rules gives exactly what the rule-by-rule path gives.

``map_source`` stores the text of a plain, optional, single-valued leaf while it walks the tree;
a repeated value or an element with children sends the message down the traced path, which
reports (strict) or warns (lenient) as for any other rule. The traced path never takes the
shortcut, so comparing the two on every fixture checks the shortcut against the reference.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from walks import WALKS, use_walk

from gateway.ingest import InputError, read
from gateway.mapping import ConversionError, Registry, map_source
from gateway.mapping.registry import default_dirs, examples_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
VOORLETTERS = "<iwmo:Voorletters>DHR</iwmo:Voorletters>"


def _inputs() -> list[Path]:
    found = [p for folder in ("tests/fixtures", "mappings", "dialects") for p in (ROOT / folder).rglob("*")
             if p.suffix in (".xml", ".ei") and "expected" not in p.parts]
    return sorted(found)


@pytest.fixture(autouse=True, params=WALKS)
def untraced_run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test against every untraced run: native, generated (mapping/walkgen.py) and the reference."""
    use_walk(request.param, monkeypatch)


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The built-in dialects and, opted in, the example vendors: their fixtures are walked too."""
    return Registry(dirs=[*default_dirs(), examples_dir()])


@pytest.mark.parametrize("path", _inputs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shortcut_and_traced_walk_give_the_same_data(path: Path, registry: Registry) -> None:
    try:
        source = read(path.read_bytes(), path.name)
        mapping = registry.match(source.root, source.format, among=None, source=path.name)
    except (InputError, ConversionError):
        pytest.skip("not a message a built-in mapping reads on its own (needs a route or --mapping)")
    try:
        fast = map_source(mapping, source.root, source=path.name)
    except ConversionError as exc:  # a fixture of a bad message: both ways must fail alike
        with pytest.raises(ConversionError) as traced:
            map_source(mapping, source.root, source=path.name, trace=True)
        assert (traced.value.field, traced.value.line, traced.value.message) == (exc.field, exc.line, exc.message)
        return
    traced = map_source(mapping, source.root, source=path.name, trace=True)
    assert fast.data == traced.data
    assert fast.bericht == traced.bericht
    assert [(u.path, u.line) for u in fast.unmapped] == [(u.path, u.line) for u in traced.unmapped]
    assert [w.message for w in fast.warnings] == [w.message for w in traced.warnings]


def _map(registry: Registry, text: str):  # type: ignore[no-untyped-def]
    source = read(text.encode(), "msg.xml")
    return map_source(registry.get("iwmo21-wmo301"), source.root, source="msg.xml")


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[nth - 1]


def test_a_second_value_for_a_leaf_is_refused_with_field_and_line(registry: Registry) -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(VOORLETTERS) == 1
    text = text.replace(VOORLETTERS, VOORLETTERS + "\n" + VOORLETTERS.replace("DHR", "XY"), 1)
    with pytest.raises(ConversionError) as err:
        _map(registry, text)
    assert err.value.field == "clients.0.naam.voorletters"
    assert "found 2 values where one is expected" in err.value.message
    assert err.value.line == _line_of(text, VOORLETTERS)


def test_an_empty_first_element_does_not_hide_the_value_after_it(registry: Registry) -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace(VOORLETTERS, "<iwmo:Voorletters>  </iwmo:Voorletters>" + VOORLETTERS, 1)
    result = _map(registry, text)
    assert result.data["clients"][0]["naam"]["voorletters"] == "DHR"
    assert result.bericht.clients[0].naam is not None and result.bericht.clients[0].naam.voorletters == "DHR"


def test_a_leaf_rule_that_meets_an_element_with_children_says_so(registry: Registry) -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace(VOORLETTERS, "<iwmo:Voorletters><iwmo:X>D</iwmo:X></iwmo:Voorletters>", 1)
    with pytest.raises(ConversionError) as err:
        _map(registry, text)
    assert err.value.field == "clients.0.naam.voorletters"
    assert "selects an element with children" in err.value.message


def test_lenient_takes_the_first_of_two_values_with_a_warning(registry: Registry) -> None:
    path = ROOT / "mappings" / "examples" / "dutch-formats" / "fixtures" / "toewijzing.xml"
    text = path.read_text(encoding="utf-8")
    one = "<Voorvoegsel>van der</Voorvoegsel>"
    assert text.count(one) == 1
    text = text.replace(one, one + "<Voorvoegsel>de</Voorvoegsel>")
    source = read(text.encode(), "lenient.xml")
    mapping = Registry(files=[path.parents[1] / "mapping.yaml"]).get("example-dutch-formats")  # example: opted in
    assert mapping.strictness == "lenient"
    result = map_source(mapping, source.root, source="lenient.xml")
    assert result.data["clients"][0]["naam"]["geslachtsnaam"]["voorvoegsel"] == "van der"
    [warning] = [w for w in result.warnings if w.field == "clients.0.naam.geslachtsnaam.voorvoegsel"]
    assert "found 2 values where one is expected; the first is used" in warning.message
    assert warning.line == _line_of(text, one)


def test_an_element_whose_leaves_are_all_empty_leaves_no_structure(registry: Registry) -> None:
    """The walk writes a group of leaves (the Adres under a Contact) into one dict made as it enters the
    element; when no leaf had a value that dict is not kept, as when each leaf looked up its own place."""
    text = FIXTURE.read_text(encoding="utf-8")
    start, end = text.index("<wmo301:Adres>"), text.index("</wmo301:Adres>")
    text = text[:start] + "<wmo301:Adres><iwmo:Huis><iwmo:Huisnummer> </iwmo:Huisnummer></iwmo:Huis>" + \
        "<iwmo:Postcode/>" + text[end:]
    result = _map(registry, text)
    contact = result.data["clients"][0]["relaties"][0]["contacten"][0]
    assert "adres" not in contact and contact["emailadres"] == "dsmistral@email.nl"
    assert result.bericht.clients[0].relaties[0].contacten[0].adres is None
    source = read(text.encode(), "msg.xml")
    traced = map_source(registry.get("iwmo21-wmo301"), source.root, source="msg.xml", trace=True)
    assert traced.data == result.data


def test_a_rule_with_several_paths_reads_them_in_the_order_of_its_paths(registry: Registry,
                                                                       reference_dir: Path) -> None:
    """The walk collects each path of a ``paths:`` rule apart: the values join in the order the rule lists
    its paths (Versie then SubVersie), not in the order the elements stand in the message."""
    path = reference_dir / "samples" / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml"
    text = path.read_text(encoding="utf-8")
    versie, subversie = "<iwmo:Versie>2</iwmo:Versie>", "<iwmo:SubVersie>0</iwmo:SubVersie>"
    assert text.count(versie) == text.count(subversie) == 1
    swapped = text.replace(versie, "@@").replace(subversie, versie).replace("@@", subversie)
    mapping = registry.get("iwmo20-wmo301")
    for trace in (False, True):
        result = map_source(mapping, read(swapped.encode(), "swapped.xml").root, trace=trace)
        assert result.bericht.versie == "2.0"
        assert result.unmapped == []


def test_a_required_field_the_walk_stores_is_still_required(tmp_path: Path) -> None:
    """A required plain rule is stored by the walk like an optional one; when nothing landed the message
    is refused with the rule's own text, also where the canonical model would accept the field empty."""
    path = tmp_path / "vendor-clientnummer.yaml"
    path.write_text("overstap-mapping: 1\nname: vendor-clientnummer\nextends: iwmo21-wmo301\nrules:\n"
                    "  clients:\n    rules:\n      clientnummer: {path: m:Clientnummer, required: true}\n",
                    encoding="utf-8")
    mapping = Registry(dirs=default_dirs(), files=[path]).get(str(path))
    text = FIXTURE.read_text(encoding="utf-8")
    assert "Clientnummer" not in text
    with pytest.raises(ConversionError) as err:
        map_source(mapping, read(text.encode(), "msg.xml").root, source="msg.xml")
    assert (err.value.field, err.value.message) == (
        "clients.0.clientnummer", "required value missing: nothing at 'm:Clientnummer'")
    bsn = re.search(r"<wmo301:Bsn>\d+</wmo301:Bsn>", text)
    assert bsn is not None
    text = text.replace(bsn.group(0), bsn.group(0) + "<wmo301:Clientnummer>K-7</wmo301:Clientnummer>", 1)
    result = map_source(mapping, read(text.encode(), "msg.xml").root, source="msg.xml")
    assert result.bericht.clients[0].clientnummer == "K-7"
