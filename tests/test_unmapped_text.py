"""Values that slipped past "nothing silently dropped" until session 24's review, each now reported or refused.

Why: the unmapped check looked at leaf texts and attributes only. Text beside child elements (mixed content,
``<Client>Gaastra<Bsn>...``), a leaf whose text a comment splits (``<Extra><!-- c -->Gaastra</Extra>``: lxml counts
the comment as a child, so the leaf looked like a container), a second element beside the one ``match.xpath``
compared (all its nodes counted as read, whatever they held) and a value a transform turned into an empty text
all vanished from the output without a word, in the native and the Python walk alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from shared_registry import shared_registry
from walks import WALKS, use_walk

from gateway.cli import main
from gateway.ingest import read
from gateway.mapping import ConversionError, Registry, map_source
from gateway.mapping.registry import default_dirs, examples_dir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
CLIENT = "/wmo301:Bericht/wmo301:Clienten/wmo301:Client"
VOORLETTERS = "<iwmo:Voorletters>DHR</iwmo:Voorletters>"


@pytest.fixture(autouse=True, params=WALKS)
def untraced_run(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    use_walk(request.param, monkeypatch)


def _unmapped(text: str, mapping: str = "iwmo21-wmo301", registry: Registry | None = None) -> list[tuple[str, int]]:
    root = read(text.encode(), "msg.xml").root
    result = map_source((registry or shared_registry()).get(mapping), root, source="msg.xml")
    return [(u.path, u.line) for u in result.unmapped]


def _bent(old: str, new: str) -> str:
    text = FIXTURE.read_text()
    assert text.count(old) >= 1
    return text.replace(old, new, 1)


def test_text_beside_child_elements_is_reported_as_the_elements_text() -> None:
    assert _unmapped(_bent("<wmo301:Client>", "<wmo301:Client>Gaastra")) == [(f"{CLIENT}/text()", 16)]
    assert _unmapped(_bent("<wmo301:Bsn>123456782</wmo301:Bsn>", "<wmo301:Bsn>123456782</wmo301:Bsn>Gaastra")) \
        == [(f"{CLIENT}/text()", 17)]  # a tail: the line of the element before it
    assert _unmapped(_bent("</wmo301:Bericht>", "D. Gaastra</wmo301:Bericht>")) == [("/wmo301:Bericht/text()", 15)]


def test_a_leaf_whose_text_a_comment_splits_is_reported_as_a_leaf() -> None:
    for extra in ("<iwmo:Onbekend><!-- c -->Gaastra</iwmo:Onbekend>", "<iwmo:Onbekend>Gaa<?pi x?>stra</iwmo:Onbekend>",
                  "<iwmo:Onbekend>Gaastra<!-- c --></iwmo:Onbekend>"):
        assert _unmapped(_bent(VOORLETTERS, VOORLETTERS + extra)) == [(f"{CLIENT}/wmo301:Naam/iwmo:Onbekend", 26)]


def test_comments_blanks_and_split_blanks_are_no_values() -> None:
    assert _unmapped(_bent(VOORLETTERS, VOORLETTERS + "<!-- Gaastra --><?x Gaastra?>\t \n")) == []
    assert _unmapped(_bent(VOORLETTERS, VOORLETTERS + "<iwmo:Onbekend> <!-- Gaastra --> </iwmo:Onbekend>")) == []


def test_ignore_names_an_elements_text_and_leaves_its_children_checked(tmp_path: Path) -> None:
    child = tmp_path / "child.yaml"
    child.write_text("overstap-mapping: 1\nname: wmo301-loose\nextends: iwmo21-wmo301\nmatch: {route: loose}\n"
                     "ignore:\n  - path: m:Clienten/m:Client/text()\n    reason: the vendor's export leaves notes "
                     "between the elements\n", encoding="utf-8")
    registry = Registry([*default_dirs()], files=[child])
    text = _bent("<wmo301:Client>", "<wmo301:Client>notitie<wmo301:Onbekend>x</wmo301:Onbekend>")
    assert _unmapped(text, "wmo301-loose", registry) == [(f"{CLIENT}/wmo301:Onbekend", 16)]
    assert _unmapped(text) == [(f"{CLIENT}/text()", 16), (f"{CLIENT}/wmo301:Onbekend", 16)]


def test_convert_lists_mixed_text_by_path_never_by_value(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(_bent("<wmo301:Client>", "<wmo301:Client>D. Gaastra"))
    run = CliRunner().invoke(main, ["convert", str(tmp_path / "a.xml"), "--out", str(tmp_path / "out"),
                                    "--state", "none"])
    assert run.exit_code == 0, run.output
    assert f"not mapped: {CLIENT}/text() (line 16)" in run.output
    assert "Gaastra" not in run.output


THIRDPARTY = ROOT / "mappings" / "examples" / "thirdparty-iwmo32"


def _kanaal(tmp_path: Path) -> Registry:
    """A mapping that tells its messages by a Kanaal element no rule reads (match.xpath compares it)."""
    child = tmp_path / "kanaal.yaml"
    child.write_text("overstap-mapping: 1\nname: thirdparty-kanaal\nextends: example-thirdparty-verzoek\nmatch:\n"
                     "  namespace: ''\n  root: Bericht\n  xpath: {\"Header/BerichtCode\": \"302\", "
                     "\"Header/Kanaal\": portaal}\n", encoding="utf-8")
    return Registry([*default_dirs(), examples_dir()], files=[child])


def test_match_xpath_reads_only_the_node_that_holds_its_value(tmp_path: Path) -> None:
    registry = _kanaal(tmp_path)
    text = (THIRDPARTY / "fixtures" / "verzoek.xml").read_text()
    at = text.index("</Header>")
    one = text[:at] + "<Kanaal>portaal</Kanaal>" + text[at:]
    assert _unmapped(one, "thirdparty-kanaal", registry) == []
    two = text[:at] + "<Kanaal>portaal</Kanaal>\n<Kanaal>Gaastra</Kanaal>" + text[at:]
    line = two[:two.index("<Kanaal>Gaastra")].count("\n") + 1
    assert _unmapped(two, "thirdparty-kanaal", registry) == [("/Bericht/Header/Kanaal", line)]


def _emptying(tmp_path: Path, strictness: str, required: bool = False) -> Registry:
    """Voorletters through a replace that leaves nothing of "DHR" (a vendor's pattern meant for dots)."""
    child = tmp_path / f"empty-{strictness}.yaml"
    child.write_text("overstap-mapping: 1\nname: wmo301-emptying\nextends: iwmo21-wmo301\nmatch: {route: empty}\n"
                     f"strictness: {strictness}\nrules:\n  clients:\n    rules:\n      naam.voorletters:\n"
                     "        path: m:Naam/i:Voorletters\n        transform: {replace: {pattern: '[A-Z.]', with: ''}}\n"
                     f"        required: {'true' if required else 'false'}\n", encoding="utf-8")
    return Registry([*default_dirs()], files=[child])


def test_a_transform_that_empties_a_value_refuses_it(tmp_path: Path) -> None:
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    with pytest.raises(ConversionError) as caught:
        map_source(_emptying(tmp_path, "strict").get("wmo301-emptying"), root, source="msg.xml")
    assert caught.value.field == "clients.0.naam.voorletters" and caught.value.line == 26
    assert "transform replace turned the value at 'm:Naam/i:Voorletters' into an empty text" in str(caught.value)
    assert "DHR" not in str(caught.value)


def test_lenient_leaves_an_emptied_value_out_with_a_warning(tmp_path: Path) -> None:
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    result = map_source(_emptying(tmp_path, "lenient").get("wmo301-emptying"), root, source="msg.xml")
    assert result.bericht.clients[0].naam.voorletters is None
    assert [(w.field, w.line) for w in result.warnings] == [("clients.0.naam.voorletters", 26)]
    assert result.warnings[0].message.endswith("into an empty text; value dropped")
    with pytest.raises(ConversionError, match="required value missing: transform replace turned"):
        map_source(_emptying(tmp_path, "lenient", required=True).get("wmo301-emptying"), root, source="msg.xml")


def test_a_mapped_leaf_whose_text_a_comment_splits_is_read_whole() -> None:
    """XML reads ``1234<!-- -->56782`` as one text; the rule was refused as pointing at "an element with children"."""
    text = (_bent("<wmo301:Bsn>123456782</wmo301:Bsn>", "<wmo301:Bsn>1234<!-- c -->56782</wmo301:Bsn>")
            .replace(VOORLETTERS, "<iwmo:Voorletters><?p x?>D<!-- c -->HR</iwmo:Voorletters>", 1))
    result = map_source(shared_registry().get("iwmo21-wmo301"), read(text.encode(), "msg.xml").root, source="msg.xml")
    assert (result.bericht.clients[0].bsn, result.bericht.clients[0].naam.voorletters) == ("123456782", "DHR")
    assert result.unmapped == []
    child = _bent("<wmo301:Bsn>123456782</wmo301:Bsn>", "<wmo301:Bsn>123456782<wmo301:X/></wmo301:Bsn>")
    with pytest.raises(ConversionError, match="selects an element with children"):
        map_source(shared_registry().get("iwmo21-wmo301"), read(child.encode(), "msg.xml").root, source="msg.xml")


def test_a_value_map_that_maps_a_code_to_nothing_refuses_it(tmp_path: Path) -> None:
    """A code the map turns into an empty text was stored empty by the walk's fast value-map step."""
    child = tmp_path / "leeg.yaml"
    child.write_text("overstap-mapping: 1\nname: wmo301-leeg\nextends: iwmo21-wmo301\nmatch: {route: leeg}\n"
                     "value_maps:\n  leeg:\n    values: {\"1\": \"\"}\n    fallback: keep\nrules:\n  clients:\n"
                     "    rules:\n      extra.naamgebruik: {path: m:Naam/i:NaamGebruik, map: leeg}\n", encoding="utf-8")
    root = read(FIXTURE.read_bytes(), "msg.xml").root
    with pytest.raises(ConversionError) as caught:
        map_source(Registry([*default_dirs()], files=[child]).get("wmo301-leeg"), root, source="msg.xml")
    assert caught.value.field == "clients.0.extra.naamgebruik"
    assert "value map 'leeg' turned the value at 'm:Naam/i:NaamGebruik' into an empty text" in str(caught.value)
