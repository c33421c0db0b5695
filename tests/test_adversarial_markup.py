"""Messages within the 10 MB limit whose cost is in their markup, not their bytes (review F2, F11): an element of
100,000 attributes (lxml reads them in quadratic time, in one C call that holds the GIL: no deadline could end it)
and a message of a million elements (~300 MB and seconds however little each holds). Each is refused with its line,
and before the step that would cost: the wide element before anything reads its attributes, the crowded message
before libxml2 builds a node of it.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from lxml import etree

from gateway.batch import BatchOptions, run
from gateway.ingest import InputError, read
from gateway.ingest.xml import MAX_ATTRIBUTES, MAX_NODES, parse_xml
from gateway.pipeline import Converter

SAMPLE = (Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
CLIENT = b"<wmo301:Client>"
CLIENT_LINE = SAMPLE[:SAMPLE.index(CLIENT)].count(b"\n") + 1
CLIENT_PATH = "/wmo301:Bericht/wmo301:Clienten/wmo301:Client"


def with_attributes(count: int) -> bytes:
    """The sample 301 with ``count`` attributes on its Client: the reviewer's message at 100,000 (1.1 MB)."""
    return SAMPLE.replace(CLIENT, b"<wmo301:Client " + b" ".join(b'a%d="1"' % i for i in range(count)) + b">")


def nodes(data: bytes) -> int:
    """What MAX_NODES counts, counted the slow way: every '<' that does not open an end tag, and every '='."""
    return len(re.findall(rb"<(?!/)|=", data))


def test_the_reviewers_message_is_refused_naming_the_element_and_its_line() -> None:
    data = with_attributes(100_000)
    with pytest.raises(InputError) as caught:
        read(data, "attrs.xml")  # ingest refuses it: no mapping, and so no scan of its attributes, runs
    error = caught.value
    assert (error.source, error.line, error.field) == ("attrs.xml", CLIENT_LINE, CLIENT_PATH)
    assert error.message == f"element has 100,000 attributes: expected at most {MAX_ATTRIBUTES:,} on one element"
    with pytest.raises(InputError) as converted:
        Converter().convert(data, "attrs.xml")
    assert str(converted.value) == str(error)


def test_the_bound_on_attributes_is_exact() -> None:
    root = parse_xml(with_attributes(MAX_ATTRIBUTES))
    assert len(root.find(".//{*}Client").keys()) == MAX_ATTRIBUTES
    with pytest.raises(InputError, match=f"element has {MAX_ATTRIBUTES + 1:,} attributes"):
        parse_xml(with_attributes(MAX_ATTRIBUTES + 1))


def shortest_names(count: int) -> list[str]:
    """``count`` distinct attribute names, shortest in UTF-8 first: the 53 one-byte ones, then two bytes (two ASCII
    name characters, or one letter from U+00C0 to U+07FF)."""
    first = string.ascii_letters + "_"
    two = [a + b for a in first for b in first + string.digits + "-."]
    two += [chr(i) for i in [*range(0xC0, 0x300), *range(0x37F, 0x800)] if i not in (0xD7, 0xF7)]
    return [*first, *two][:count]


def test_the_shortest_element_past_the_bound_is_caught_by_the_length_shortcut() -> None:
    """Texts of at most 5 bytes an attribute (`` a=""``) times the bound are not counted at all: the shortest
    element that passes the bound is longer, and is looked at."""
    data = b"<r " + " ".join(f'{n}=""' for n in shortest_names(MAX_ATTRIBUTES + 1)).encode() + b"/>"
    assert 5 * MAX_ATTRIBUTES < len(data) < 6 * MAX_ATTRIBUTES  # the shortcut stays below it, and not far below
    with pytest.raises(InputError) as caught:
        parse_xml(data, "short.xml")
    assert (caught.value.line, caught.value.field) == (1, "/r")


def test_many_attributes_spread_over_elements_are_no_wide_element() -> None:
    data = SAMPLE.replace(CLIENT, CLIENT + b'<x a="1" b="2"/>' * (MAX_ATTRIBUTES + 1))
    assert data.count(b"=") > MAX_ATTRIBUTES  # so the parsed tree is looked at, and holds no element past the bound
    assert len(parse_xml(data).find(".//{*}Client").findall("x")) == MAX_ATTRIBUTES + 1


def crowded(extra: int) -> bytes:
    """The sample with leaves of one attribute each (two nodes) added at its end until it holds MAX_NODES, then
    ``extra`` empty elements on a line of their own."""
    pairs, odd = divmod(MAX_NODES - nodes(SAMPLE), 2)
    filler = b'<x a="1">1</x>' * pairs + b"<y/>" * odd + b"\n" + b"<z/>" * extra
    return SAMPLE.replace(b"</wmo301:Bericht>", filler + b"</wmo301:Bericht>")


def test_a_message_at_the_bound_on_elements_and_attributes_is_parsed() -> None:
    data = crowded(0)  # end tags are not counted: twice as many '<' as the bound, and accepted
    assert nodes(data) == MAX_NODES and data.count(b"<") + data.count(b"=") > 1.4 * MAX_NODES
    assert len(parse_xml(data).findall("x")) == (MAX_NODES - nodes(SAMPLE)) // 2


def test_a_message_past_the_bound_is_refused_before_libxml2_builds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    data = crowded(1)
    built: list[bytes] = []
    real = etree.fromstring
    monkeypatch.setattr(etree, "fromstring", lambda text, *args: built.append(text) or real(text, *args))
    with pytest.raises(InputError) as caught:
        read(data, "crowded.xml")
    assert built == [], "refused from the bytes: no tree was built"
    error = caught.value
    assert (error.source, error.code) == ("crowded.xml", "StUF055")  # the sender's to change: plek client
    assert error.line == data.count(b"\n", 0, data.index(b"<z/>")) + 1  # where the count passes: the extra one
    assert error.message.startswith(f"more than {MAX_NODES:,} elements and attributes in one message")
    assert error.message.endswith(f"expected at most {MAX_NODES:,}")


def test_the_reviewers_leaf_message_is_refused_the_same_way() -> None:
    """9.6 MB of 1.2 million leaves: 754 MB and 7 s in one process before; now refused from its bytes."""
    data = SAMPLE.replace(CLIENT, CLIENT + b"<x>1</x>" * 1_200_000)
    with pytest.raises(InputError, match="more than 500,000 elements and attributes") as caught:
        read(data, "leaves.xml")
    assert caught.value.line == CLIENT_LINE


def test_a_batch_reports_the_wide_element_and_goes_on(tmp_path: Path) -> None:
    """The reviewer's run (``--workers 1 --timeout 2``, still going after 60 s): a failed line naming the element."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "attrs.xml").write_bytes(with_attributes(100_000))
    (folder / "ok.xml").write_bytes(SAMPLE)
    outcome = run(BatchOptions([folder], tmp_path / "out", validate=False, progress="quiet", workers=1, timeout=2))
    report = (tmp_path / "out" / "report.jsonl").read_text().splitlines()
    lines = {line["source"]: line for line in map(json.loads, report)}
    assert lines["in/ok.xml"]["status"] == "ok"
    failed = lines["in/attrs.xml"]
    assert failed["status"] == "failed"
    assert (failed["error"]["line"], failed["error"]["field"]) == (CLIENT_LINE, CLIENT_PATH)
    assert outcome.exit_code == 1


def test_with_a_libxml2_before_2_12_a_wide_element_is_refused_before_the_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    """libxml2 before 2.12 checks each attribute against the earlier ones (quadratic, in one C call): there the wide
    element is refused in the bytes, before libxml2 sees it; a message of many narrow elements still parses."""
    from gateway.ingest import xml

    monkeypatch.setattr(xml, "LINEAR_ATTRIBUTES", False)
    parsed: list[bytes] = []
    real = etree.fromstring
    monkeypatch.setattr(xml.etree, "fromstring", lambda text, parser: parsed.append(text) or real(text, parser))
    with pytest.raises(InputError) as caught:
        parse_xml(with_attributes(MAX_ATTRIBUTES + 1), "attrs.xml")
    assert (caught.value.source, caught.value.line) == ("attrs.xml", CLIENT_LINE) and not parsed
    assert f"more than {MAX_ATTRIBUTES:,} attributes" in caught.value.message
    assert len(parse_xml(with_attributes(MAX_ATTRIBUTES)).find(".//{*}Client").keys()) == MAX_ATTRIBUTES
    spread = SAMPLE.replace(CLIENT, CLIENT + b'<x a="1" b="2"/>' * (MAX_ATTRIBUTES + 1))
    assert len(parse_xml(spread).find(".//{*}Client").findall("x")) == MAX_ATTRIBUTES + 1
    assert xml.LINEAR_ATTRIBUTES is False and len(parsed) == 2
