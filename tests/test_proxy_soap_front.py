"""The sidecar's SOAP layer itself (review of session 21): the answer's SOAP version and header blocks it must
understand.

Why: a SOAP 1.1 client cannot read a SOAP 1.2 answer (nor the other way round), so the answer goes in the version
of the request's envelope, not in one guessed from the Content-Type or from a mention of a namespace. And a header
block marked mustUnderstand for the ultimate receiver (a WS-Security header, say) must fail the message when the
receiver does not understand it (SOAP 1.1 4.2.3): acknowledging it tells the sender its header was honoured.
Each case runs against a real gateway under uvicorn; the values expected are written from the SOAP specifications.
"""

from __future__ import annotations

import base64
import re

import httpx
import pytest
from lxml import etree
from proxy_helpers import SOAP11, SOAP12, Receiver, ServerThread, Start, sample, variant

from gateway.deliver import outbox

STUF = "{http://www.egem.nl/StUF/StUF0301}"


def envelope(message: bytes, namespace: str, *, before: str = "", header: str = "") -> bytes:
    """``message`` as the one message of a SOAP Body, with ``before`` ahead of the envelope and a Header holding
    ``header`` (blocks written with the prefix ``soap``)."""
    inner = message.split(b"?>", 1)[1].strip() if message.startswith(b"<?xml") else message
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>{before}<soap:Envelope xmlns:soap="{namespace}">{head}'
            "<soap:Body>").encode() + inner + b"</soap:Body></soap:Envelope>"


def answered_in(response: httpx.Response) -> tuple[str, str, str]:
    """(envelope namespace, Content-Type's media type, the message in the Body or the fault's code)."""
    root = etree.fromstring(response.content)
    body = root[-1]
    first = body[0]
    name = etree.QName(first).localname
    if name == "Fault":
        name = first.findtext("faultcode") or first.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") or ""
    return etree.QName(root).namespace or "", response.headers["content-type"].split(";")[0], name


@pytest.mark.parametrize(("case", "namespace", "content_type", "before"), [
    ("1.1 with the 1.2 media type", SOAP11, "application/soap+xml; charset=utf-8", ""),
    ("1.1 mentioning the 1.2 namespace", SOAP11, "text/xml; charset=utf-8", f"<!-- also served as {SOAP12} -->"),
    ("1.2 after a long comment", SOAP12, "text/xml; charset=utf-8", "<!--" + " " * 3000 + "-->"),
])
def test_the_answer_is_in_the_soap_version_of_the_envelope(start: Start, case: str, namespace: str,
                                                          content_type: str, before: str) -> None:
    """Failed before: the version was the Content-Type's, else whether the SOAP 1.2 namespace occurred in the first
    2 KB, so each of these got an answer in the other version (a Bv03 its sender's SOAP stack rejects)."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, _ = start({"default": {"downstream": "zs"}}, {"zs": ds.url})
        response = httpx.post(server.url + "/soap", content=envelope(sample(), namespace, before=before),
                              headers={"Content-Type": content_type}, timeout=30)
    media = "application/soap+xml" if namespace == SOAP12 else "text/xml"
    assert response.status_code == 200, response.text
    assert answered_in(response) == (namespace, media, "Bv03Bericht"), case


MARKED = '<x:Security xmlns:x="urn:x" soap:mustUnderstand="{flag}"{target}/>'


@pytest.mark.parametrize(("namespace", "flag"), [(SOAP11, "1"), (SOAP12, "true")])
def test_a_header_block_marked_mustunderstand_is_a_fault_and_kept_in_quarantine(start: Start, namespace: str,
                                                                               flag: str) -> None:
    """Failed before: the block was passed over and the message acknowledged with a Bv03 and delivered."""
    rec = Receiver()
    body = envelope(sample(), namespace, header=MARKED.format(flag=flag, target=""))
    with ServerThread(rec.app()) as ds:
        server, gw = start({"default": {"downstream": "zs"}}, {"zs": ds.url})
        response = httpx.post(server.url + "/soap", content=body, timeout=30)
        assert response.status_code == 500
        assert answered_in(response)[::2] == (namespace, "soap:MustUnderstand")
        assert b"{urn:x}Security" in response.content and b"Bv03" not in response.content
        kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
        assert kept["status"] == "quarantined" and bytes(kept["original"]) == body
        assert (kept["fault_code"], kept["fault_field"]) == ("StUF055", "Header")
        assert kept["reason"] == "header block(s) marked mustUnderstand not understood: {urn:x}Security"
    assert rec.received == []


@pytest.mark.parametrize(("namespace", "block", "mode"), [
    (SOAP11, MARKED.format(flag="0", target=""), "translate"),
    (SOAP11, MARKED.format(flag="1", target=' soap:actor="urn:another-node"'), "translate"),
    (SOAP12, MARKED.format(flag="true", target=f' soap:role="{SOAP12}/role/none"'), "translate"),
    (SOAP11, MARKED.format(flag="1", target=""), "passthrough"),
])
def test_a_block_not_for_this_node_is_no_fault(start: Start, namespace: str, block: str, mode: str) -> None:
    """Not marked, for another actor or role, or on a route that forwards the envelope to the partner that reads
    its header: acknowledged as before."""
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        route = {"downstream": "zs", "mode": mode, **({"legacy_downstream": "zs"} if mode != "translate" else {})}
        server, _ = start({"default": route}, {"zs": ds.url})
        response = httpx.post(server.url + "/soap", content=envelope(variant(sample(), 7), namespace, header=block),
                              timeout=30)
    assert response.status_code == 200, response.text
    assert answered_in(response) == (namespace, "application/soap+xml" if namespace == SOAP12 else "text/xml",
                                     "Bv03Bericht")


def refused(response: httpx.Response) -> tuple[int, str, str, str]:
    """(HTTP status, faultcode, Fo03 code, Fo03 omschrijving) of a SOAP 1.1 refusal."""
    root = etree.fromstring(response.content)
    fo = next(el for el in root.iter() if el.tag == f"{STUF}Fo03Bericht")
    return (response.status_code, root.findtext(f".//{{{SOAP11}}}Fault/faultcode") or "",
            fo.findtext(f"{STUF}body/{STUF}code") or "", fo.findtext(f"{STUF}body/{STUF}omschrijving") or "")


def test_a_declared_encoding_the_bytes_are_not_in_is_named(start: Start) -> None:
    """Failed before: a UTF-8 message declaring UTF-16 was refused with libxml2's "Blank needed here, line 1, column
    38", which says neither the encoding nor what was expected."""
    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    body = envelope(sample(), SOAP11).replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1)
    response = httpx.post(server.url + "/soap", content=body, headers={"Content-Type": "text/xml"}, timeout=30)
    assert refused(response) == (500, "soap:Client", "StUF055", (
        "encoding: the XML declaration says encoding 'UTF-16', but the message is written in single bytes (no "
        "byte-order mark, no 0 bytes): expected UTF-16 text, or a declaration of the encoding it is written in (UTF-8)"
    )[:199] + "…")
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert (kept["status"], kept["fault_field"], kept["fault_line"]) == ("quarantined", "encoding", 1)


def test_bytes_that_are_no_character_say_which_encoding_was_expected(start: Start) -> None:
    """Failed before: "Invalid bytes in character encoding" alone. The message has no XML declaration, so it is read
    as UTF-8 whatever charset the HTTP header names; the answer now says so."""
    server, _ = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    bare = sample().split(b"?>", 1)[1].lstrip()
    body = bare.replace(b"</wmo301:Bericht>", "<!-- \u00e9 -->".encode("latin-1") + b"</wmo301:Bericht>")
    response = httpx.post(server.url + "/soap", content=body,
                          headers={"Content-Type": "text/xml; charset=iso-8859-1"}, timeout=30)
    status, faultcode, code, omschrijving = refused(response)
    assert (status, faultcode, code) == (500, "soap:Client", "StUF055")
    assert omschrijving.startswith("not well-formed XML: Invalid bytes in character encoding, line ")
    assert "; expected text in UTF-8, as it has no XML declaration naming another encoding" in omschrijving


def test_a_di01_that_says_it_answers_something_is_refused_naming_the_field(start: Start) -> None:
    """Failed before: a Di01's stuurgegevens.crossRefnummer (no place in StuurgegevensDi01-envelopHeenbericht, GGk
    spec 3.2) was passed over and the envelope acknowledged. The Fo03 answers the Di01's own zender and reference."""
    from test_ggk_shells import RECEIVED, received_di01

    di01 = received_di01().replace(b"<StUF:functie>", b"<StUF:crossRefnummer>11111111-1111-4111-8111-111111111111"
                                   b"</StUF:crossRefnummer><StUF:functie>", 1)
    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    response = httpx.post(server.url + "/soap", content=di01, timeout=30)
    assert refused(response) == (500, "soap:Client", "StUF055", "stuurgegevens.crossRefnummer: GGk Di01 envelope: "
                                 "stuurgegevens holds an element 'crossRefnummer' the GGk schema does not allow there")
    fo = next(el for el in etree.fromstring(response.content).iter() if el.tag == f"{STUF}Fo03Bericht")
    assert fo.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == RECEIVED
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert (kept["status"], kept["fault_field"]) == ("quarantined", "stuurgegevens.crossRefnummer")


def test_nesting_too_deep_says_how_deep_may_go(start: Start) -> None:
    """Failed before: "not well-formed XML: Excessive depth in document: 256, use XML_PARSE_HUGE option" — the
    message is well-formed, and a parser option is no advice to its sender."""
    server, _ = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    deep = b"<a>" * 300 + b"</a>" * 300
    response = httpx.post(server.url + "/soap", content=envelope(deep, SOAP11), timeout=30)
    assert refused(response) == (500, "soap:Client", "StUF055", "elements nested more than 256 levels deep: "
                                 "expected at most 256 (a message nests a few dozen)")


def test_a_value_past_libxml2s_length_says_so_not_which_parser_option_to_try(start: Start) -> None:
    """Red-team review, session 24: a GGk envelope (up to 25 MB) whose payload held one text of more than 10,000,000
    characters was refused "not well-formed XML: Resource limit exceeded: Text node too long, try XML_PARSE_HUGE":
    it is well-formed, and the parser option is no advice to its sender (as with nesting, above)."""
    from gateway.pipeline import Converter

    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    message = sample("CasusB-01-WMO301_toewijzing.xml")
    di01 = Converter(profile="ggk").convert(message).outputs[0].xml
    padded = message.replace(b"</wmo301:Header>", b"</wmo301:Header>" + b"\n" * 10_000_001, 1)
    big = re.sub(rb'(contentType="application/xml">)[^<]+', lambda m: m.group(1) + base64.b64encode(padded), di01)
    response = httpx.post(server.url + "/soap", content=big, timeout=60)
    status, faultcode, code, omschrijving = refused(response)
    assert (status, faultcode, code) == (500, "soap:Client", "StUF055") and "XML_PARSE_HUGE" not in response.text
    assert omschrijving.startswith("parameters.bericht: GGk payload WMO301 cannot be read (line ")
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert kept["reason"].endswith("one text or attribute value is longer than 10,000,000 characters: expected "
                                   "values of a message's length (a base64 payload belongs in a GGk envelope's "
                                   "parameters/bericht)")


def test_an_envelope_with_two_headers_is_refused_naming_the_second(start: Start) -> None:
    """Failed before: a second Header (a SOAP envelope has at most one) was passed over, its blocks unread, and the
    message acknowledged; a mustUnderstand block in it is now also found (the previous test's fault)."""
    server, gw = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    body = envelope(sample(), SOAP11, header='<x:Id xmlns:x="urn:x">1</x:Id>').replace(
        b"<soap:Body>", b'<soap:Header><x:Other xmlns:x="urn:x"/></soap:Header><soap:Body>', 1)
    response = httpx.post(server.url + "/soap", content=body, timeout=30)
    assert refused(response) == (500, "soap:Client", "StUF055",
                                 "Header: SOAP envelope with 2 Header elements: expected at most one")
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert (kept["status"], kept["fault_field"]) == ("quarantined", "Header")
    marked = body.replace(b'<x:Other xmlns:x="urn:x"/>', b'<x:Other xmlns:x="urn:x" soap:mustUnderstand="1"/>')
    second = httpx.post(server.url + "/soap", content=marked, timeout=30)
    assert second.status_code == 500 and answered_in(second)[2] == "soap:MustUnderstand"
