"""Safe parsing: no entity expansion, no external entities, no DTDs, a size limit, clear errors."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.ingest import InputError, read
from gateway.ingest.xml import SCAN_TRIES, declaration_at

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Bericht>&lol3;</Bericht>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Bericht>&xxe;</Bericht>"""


def test_entity_bomb_is_refused_before_expansion() -> None:
    with pytest.raises(InputError, match="DOCTYPE/ENTITY declarations are not allowed") as exc:
        read(BOMB, "bomb.xml")
    assert exc.value.line == 2 and exc.value.source == "bomb.xml"


def test_external_entity_is_refused() -> None:
    with pytest.raises(InputError, match="not allowed"):
        read(XXE, "xxe.xml")


def test_doctype_late_in_a_large_prolog_is_still_refused() -> None:
    data = b"<?xml version='1.0'?>\n" + b"<!--" + b"x" * 5000 + b"-->\n" + BOMB.split(b"\n", 1)[1]
    with pytest.raises(InputError, match="not allowed"):
        read(data, "late.xml")


def test_not_xml_names_the_line() -> None:
    with pytest.raises(InputError, match="not well-formed") as exc:
        read(b"<a>\n<b>\n</a>", "broken.xml")
    assert exc.value.line == 3


def test_size_limit() -> None:
    with pytest.raises(InputError, match="more than the limit"):
        read(b"<a>" + b" " * 2000 + b"</a>", "big.xml", max_bytes=1000)


def test_empty_input() -> None:
    with pytest.raises(InputError, match="empty input"):
        read(b"  \n", "empty.xml")


def test_soap_envelopes_are_unwrapped() -> None:
    for ns, kind in (("http://schemas.xmlsoap.org/soap/envelope/", "soap11"),
                     ("http://www.w3.org/2003/05/soap-envelope", "soap12")):
        data = f'<s:Envelope xmlns:s="{ns}"><s:Header/><s:Body><m:Bericht xmlns:m="urn:x"/></s:Body></s:Envelope>'
        source = read(data.encode(), "soap.xml")
        assert source.root_name == "Bericht" and source.namespace == "urn:x"
        assert source.envelopes == [kind]


def test_empty_soap_body_is_a_clear_error() -> None:
    data = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'
    with pytest.raises(InputError, match="SOAP Body is empty"):
        read(data, "soap.xml")


DECLARATION_SEARCH = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
"""The scan :func:`declaration_at` replaced (a regex search over every byte): what it must still find."""


@pytest.mark.parametrize(("data", "expected"), [
    (b"<!DOCTYPE a><a/>", 0),  # at the very start: the "!" at 1 is tried with the "<" at 0
    (b"!<a/><!ENTITY x 'y'>", 5),  # a "!" at 0 has no "<" before it, and the scan goes on past it
    (b"<a>!!</a><!-- x --><! \n doctype a>", 19),  # comments and stray "!" first; blanks and lower case
    (b"<a>< !DOCTYPE a></a>", -1),  # "< !" is no declaration
    (b"<a><!-- <!DOCTYPE in a comment is still refused --></a>", 8),
    (b"<a>no exclamation at all</a>", -1),
])
def test_the_declaration_scan_finds_what_a_regex_search_finds(data: bytes, expected: int) -> None:
    found = DECLARATION_SEARCH.search(data)
    assert declaration_at(data) == expected == (found.start() if found else -1)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"<", b"!", b"<!", b"<!--", b"DOCTYPE", b"entity", b" ", b"\n", b"a", b">"]),
                max_size=24).map(b"".join))
def test_the_declaration_scan_agrees_with_the_search_on_any_mix(data: bytes) -> None:
    found = DECLARATION_SEARCH.search(data)
    assert declaration_at(data) == (found.start() if found else -1)


def test_a_declaration_after_comments_is_refused_on_its_own_line() -> None:
    data = b"<?xml version='1.0'?>\n<!-- one! -->\n<!-- two -->\n" + BOMB.split(b"\n", 1)[1]
    with pytest.raises(InputError, match="not allowed") as exc:
        read(data, "late.xml")
    assert exc.value.line == 4


@pytest.mark.parametrize("before", [SCAN_TRIES - 1, SCAN_TRIES, SCAN_TRIES + 1, 5 * SCAN_TRIES])
def test_past_its_tries_the_scan_hands_the_rest_to_the_regex_and_finds_the_same(before: int) -> None:
    """Many "!" before a declaration (or none after them): the first position still, from the regex's one pass."""
    for tail, expected in ((b"<!DOCTYPE a><a/>", 3 + 2 * before), (b"<!-- no declaration --><a/>", -1)):
        data = b"<a>" + b"!x" * before + tail
        found = DECLARATION_SEARCH.search(data)
        assert declaration_at(data) == expected == (found.start() if found else -1)


class _Counted:
    """The scan's regex, counting its one-pass searches (the fallback) and its matches at one place."""

    def __init__(self) -> None:
        self.searches = self.matches = 0

    def search(self, data: bytes, at: int = 0) -> re.Match[bytes] | None:
        self.searches += 1
        return DECLARATION_SEARCH.search(data, at)

    def match(self, data: bytes, at: int = 0) -> re.Match[bytes] | None:
        self.matches += 1
        return DECLARATION_SEARCH.match(data, at)


def test_a_message_of_exclamation_marks_is_scanned_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two million "!" are not two million steps of Python: past SCAN_TRIES the regex takes the rest in C."""
    counted = _Counted()
    monkeypatch.setattr("gateway.ingest.xml._DECLARATION", counted)
    data = b"<a>" + b"!" * 2_000_000 + b"</a><!ENTITY x 'y'>"
    with pytest.raises(InputError, match="not allowed"):
        read(data, "bangs.xml", max_bytes=4_000_000)
    assert counted.searches == 1
    read(b"<a><!-- one --><!-- two --></a>", "comments.xml")  # a few "!": tried one by one, no search
    assert (counted.searches, counted.matches) == (1, 2)
