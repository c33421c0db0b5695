"""Source elements a rule's XPath function reads (``concat(m:A, '/', m:B)``) count as read, in every walk.

Failed before (session 24 review): a function expression marked only the attributes it named (its *footprint*), so
the elements behind ``concat(m:Naam/i:Voorletters, '/', m:Naam/i:NaamGebruik)`` were reported as unmapped although
their values were in the output: noise in "nothing silently dropped", which an operator learns to ignore. An element
named only inside a predicate is tested, not carried, and stays reported. The native walk, the generated Python walk
and the interpreted reference each run the same mapping (tests/walks.py), and the traced run is the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from walks import WALKS, use_walk

from gateway.ingest import read
from gateway.mapping import Registry, map_source
from gateway.mapping.attributes import footprint
from gateway.mapping.registry import default_dirs

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
NAAM = "/wmo301:Bericht/wmo301:Clienten/wmo301:Client/wmo301:Naam"


@pytest.fixture(autouse=True, params=WALKS)
def untraced_run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    use_walk(request.param, monkeypatch)


def _registry(tmp_path: Path, commentaar: str, key: str = "path") -> Registry:
    """The iWmo 2.1 301 mapping with the client's Voorletters and NaamGebruik read only by ``commentaar`` (its
    ``path:``, or its ``paths:`` as a YAML list)."""
    child = tmp_path / "child.yaml"
    child.write_text("overstap-mapping: 1\nname: wmo301-fn\nextends: iwmo21-wmo301\nmatch: {route: fn}\nrules:\n"
                     "  clients:\n    rules:\n      naam.voorletters: null\n      naam.naamgebruik: null\n"
                     f"      commentaar: {{{key}: {commentaar}}}\n", encoding="utf-8")
    return Registry([*default_dirs()], files=[child])


def _run(registry: Registry, trace: bool = False) -> tuple[object, list[tuple[str, int | None]]]:
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    result = map_source(registry.get("wmo301-fn"), root, source="msg.xml", trace=trace)
    return result.bericht.clients[0].commentaar, [(u.path, u.line) for u in result.unmapped]


def test_the_elements_a_concat_reads_are_not_reported(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "\"concat(m:Naam/i:Voorletters, '/', m:Naam/i:NaamGebruik)\"")
    assert _run(registry) == ("DHR/1", [])
    assert _run(registry, trace=True) == ("DHR/1", [])


def test_an_element_a_function_names_only_in_a_predicate_stays_reported(tmp_path: Path) -> None:
    registry = _registry(tmp_path, "\"string(m:Naam/i:Geslachtsnaam[../i:Voorletters = 'DHR']/i:Naam)\"")
    expected = ("Gaastra", [(f"{NAAM}/iwmo:Voorletters", 26), (f"{NAAM}/iwmo:NaamGebruik", 27)])
    assert _run(registry) == expected
    assert _run(registry, trace=True) == expected


def test_each_path_of_a_several_paths_rule_marks_what_its_function_reads(tmp_path: Path) -> None:
    """Only the first path's footprint was marked once it had read something: the second's elements were reported."""
    registry = _registry(tmp_path, "[\"concat(m:Naam/i:Voorletters, '')\", \"string(m:Naam/i:NaamGebruik)\"], "
                                   "transform: {join: /}", "paths")
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    for trace in (False, True):
        result = map_source(registry.get("wmo301-fn"), root, source="msg.xml", trace=trace)
        assert (result.bericht.clients[0].commentaar, [(u.path, u.line) for u in result.unmapped]) == ("DHR/1", [])


def test_footprint_gives_element_paths_too() -> None:
    assert footprint("concat(m:A, ' ', m:B/m:C)") == ["m:A", "m:B/m:C"]
    assert footprint("concat(m:A/@x, ' ', m:B)") == ["m:A/@x", "m:B"]
    assert footprint("string(m:A[m:T = '1']/m:V)") == []  # a predicated path selects nodes itself
    assert footprint("normalize-space(.)") == []
    assert footprint("substring(m:D, 1, 4)") == ["m:D"]
