"""The unmapped check without its scan: the untraced walk vouches for a message only when nothing is left.

``map_source`` skips the scan of every element when the walk went through all of them but its spots
(children it skipped, elements whose children it did not walk, leaves its rules read later) and nothing in
those is an unread leaf text, and the message has no attributes. Each case below leaves one value where
only one of those conditions catches it; the traced run always scans, so it is the reference.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from walks import WALKS, use_walk

from gateway.ingest import read
from gateway.mapping import Registry, map_source, walkgen
from gateway.mapping.result import MapState
from gateway.mapping.unmapped import _all_read as _python_all_read

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
VOORLETTERS = "<iwmo:Voorletters>DHR</iwmo:Voorletters>"
RELATIE_DATUM = ("<wmo301:Geboortedatum>\n\t\t\t\t\t\t<iwmo:Datum>1986-04-01</iwmo:Datum>\n"
                 "\t\t\t\t\t</wmo301:Geboortedatum>")

CASES = {
    "a child no rule names": (VOORLETTERS, VOORLETTERS + "<iwmo:Onbekend>x</iwmo:Onbekend>", "iwmo:Onbekend"),
    "a leaf deep in a child no rule names": (
        VOORLETTERS, VOORLETTERS + "<iwmo:Extra><iwmo:Diep>x</iwmo:Diep></iwmo:Extra>", "iwmo:Diep"),
    "an attribute on a leaf the walk stores": (
        VOORLETTERS, '<iwmo:Voorletters soort="x">DHR</iwmo:Voorletters>', "@soort"),
    "text in a group the walk expects children in": (
        RELATIE_DATUM, "<wmo301:Geboortedatum>19860401</wmo301:Geboortedatum>", "wmo301:Geboortedatum"),
    # session 24: text that is not a leaf's whole content, which no walk or scan looked at
    "text beside the children of an element the walk goes through": (
        "<wmo301:Client>", "<wmo301:Client>Gaastra", "wmo301:Client/text()"),
    "text after a leaf the walk stores": (VOORLETTERS, VOORLETTERS + "Gaastra", "wmo301:Naam/text()"),
    "text beside the root's children": ("</wmo301:Bericht>", "Gaastra</wmo301:Bericht>", "/wmo301:Bericht/text()"),
    "text in a child no rule names, after a comment": (
        VOORLETTERS, VOORLETTERS + "<iwmo:Onbekend><!-- c -->Gaastra</iwmo:Onbekend>", "iwmo:Onbekend"),
    "text beside elements deep in a child no rule names": (
        VOORLETTERS, VOORLETTERS + "<iwmo:Extra><iwmo:Diep/>Gaastra</iwmo:Extra>", "iwmo:Extra/text()"),
}


@pytest.fixture(autouse=True, params=WALKS)
def untraced_run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test against every untraced run: native, generated (mapping/walkgen.py) and the reference."""
    use_walk(request.param, monkeypatch)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry()


@pytest.mark.parametrize("case", list(CASES))
def test_a_value_left_over_is_reported_as_the_scan_reports_it(case: str, registry: Registry) -> None:
    old, new, expected = CASES[case]
    text = FIXTURE.read_text()
    assert old in text
    root = read(text.replace(old, new, 1).encode(), "msg.xml").root
    mapping = registry.get("iwmo21-wmo301")
    fast = map_source(mapping, root, source="msg.xml")
    traced = map_source(mapping, root, source="msg.xml", trace=True)
    assert [(u.path, u.line) for u in fast.unmapped] == [(u.path, u.line) for u in traced.unmapped]
    assert any(u.path.endswith(expected) for u in fast.unmapped), fast.unmapped


def test_the_fixture_itself_leaves_nothing(registry: Registry) -> None:
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    assert map_source(registry.get("iwmo21-wmo301"), root, source="msg.xml").unmapped == []


def _all_read(root: etree._Element, st: MapState) -> bool:
    """The check of the run under test: the native Track's over the Python walks' proxies, or the Python one."""
    if walkgen.NATIVE:
        return bool(walkgen._native.Track().all_read(root, st.consumed, st.spots))  # type: ignore[union-attr]
    return _python_all_read(root, st)


def _state(spots: list[etree._Element], consumed: list[etree._Element]) -> MapState:
    st = MapState("msg.xml", trace=False, track=True, lenient=False)
    st.spots = spots
    st.consumed = set(consumed)
    return st


def test_a_spot_vouches_only_for_leaves_read_or_blank() -> None:
    root = etree.fromstring("<a><b>x</b><c> </c><d><e>y</e></d><!-- z --></a>")
    b, c, d, comment = root[0], root[1], root[2], root[3]
    e = d[0]
    assert _all_read(root, _state([b, c, comment], [b]))
    assert not _all_read(root, _state([b], []))
    assert _all_read(root, _state([d], [e]))
    assert not _all_read(root, _state([d], []))


def test_attributes_and_a_childless_root_are_left_to_the_scan() -> None:
    assert not _all_read(etree.fromstring('<a><b k="v">x</b></a>'), _state([], []))
    assert not _all_read(etree.fromstring("<a>x</a>"), _state([], []))


def test_text_a_comment_splits_under_a_spot_is_left_to_the_scan() -> None:
    """A leaf whose value a comment splits has a child (lxml's ``len``): no read leaf; its text is looked at."""
    root = etree.fromstring("<a><b>x</b><c>y<!-- z -->w</c><d><e/>v</d></a>")
    b, c, d = root[0], root[1], root[2]
    assert not _all_read(root, _state([b, c], [b]))
    assert not _all_read(root, _state([b, d], [b, d[0]]))
    blank = etree.fromstring("<a><b>x</b><c><!-- z --> </c></a>")
    assert _all_read(blank, _state([blank[0], blank[1]], [blank[0]]))
