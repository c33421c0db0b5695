"""Bad input at the sidecar: each kind gets its HTTP status and a StUF Fo03 saying why, is counted in the
metrics and kept in quarantine where there is something to keep — and none of it stops the gateway.

Why: a vendor's system must be able to tell a broken message (fix and send a new one) from a gateway
problem (send the same one again), and operations must see refusals per route and reason.
"""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree
from proxy_helpers import SOAP12, Receiver, ServerThread, metric, sample, samples_dir, soap11, soap12, wait_for

from gateway.deliver import outbox
from gateway.mapping import Registry
from gateway.pipeline import Converter
from gateway.proxy.app import create_app
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway
from gateway.render.schemas import errors_of

STUF = "{http://www.egem.nl/StUF/StUF0301}"
KEY = {"X-API-Key": "sleutel-1"}
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<lolz>&lol3;</lolz>"""
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Gateway, Receiver]]:
    samples_dir()
    rec = Receiver()
    data = tmp_path_factory.mktemp("bad-input")
    with ServerThread(rec.app()) as ds:
        cfg = from_dict({"data_dir": str(data), "max_body_bytes": LIMIT, "watch_mappings": False,
                         "convert_processes": 0,
                         "downstreams": {"zs": ds.url},
                         "routes": {"default": {"downstream": "zs", "api_keys": ["sleutel-1", "sleutel-2"]},
                                    "strict": {"downstream": "zs"}},
                         "fault_status": "http"})
        gw = Gateway(cfg, Registry())
        with ServerThread(create_app(cfg, gw)) as server:
            yield server.url, gw, rec


def fo03(response: httpx.Response, envelope: str = "http://schemas.xmlsoap.org/soap/envelope/") -> etree._Element:
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{envelope}}}Envelope"
    fo = next(el for el in root.iter() if el.tag == f"{STUF}Fo03Bericht")
    assert errors_of(fo, "stuf") == []
    return fo


def body_of(fo: etree._Element) -> tuple[str, str, str]:
    return (fo.findtext(f"{STUF}body/{STUF}code"), fo.findtext(f"{STUF}body/{STUF}plek"),
            fo.findtext(f"{STUF}body/{STUF}omschrijving"))


def test_malformed_xml(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, gw, _ = gateway
    before = metric(url, "overstap_rejected_total", route="default", reason="malformed")  # a module-shared gateway
    response = httpx.post(url + "/soap", content=b"<Bericht><Header></Bericht>", headers=KEY)
    assert response.status_code == 400
    code, plek, omschrijving = body_of(fo03(response))
    assert (code, plek) == ("StUF055", "client") and omschrijving.startswith("not well-formed XML")
    qid = int(response.headers["x-overstap-quarantine"])
    kept = outbox.message(outbox.connect(gw.db_path), qid)
    assert kept["status"] == "quarantined" and bytes(kept["original"]) == b"<Bericht><Header></Bericht>"
    assert kept["fault_line"] == 1 and "not well-formed" in kept["reason"]
    assert metric(url, "overstap_rejected_total", route="default", reason="malformed") == before + 1


def test_entity_bomb_is_refused_unexpanded(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, _ = gateway
    response = httpx.post(url + "/soap", content=BOMB, headers=KEY)
    assert response.status_code == 400
    code, plek, omschrijving = body_of(fo03(response))
    assert (code, plek) == ("StUF055", "client") and "DOCTYPE" in omschrijving
    assert b"lollol" not in response.content
    assert metric(url, "overstap_rejected_total", route="default", reason="entity") == 1


def test_oversize_body_with_and_without_content_length(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, _ = gateway
    big = b"<a>" + b"x" * (LIMIT + 10) + b"</a>"
    declared = httpx.post(url + "/soap", content=big, headers=KEY)
    assert declared.status_code == 413
    assert body_of(fo03(declared))[2] == f"message larger than the limit of {LIMIT} bytes"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]

    streamed = httpx.post(url + "/soap", content=chunks(), headers=KEY)  # chunked: no Content-Length
    assert streamed.status_code == 413
    assert metric(url, "overstap_rejected_total", route="default", reason="oversize") == 2


def test_an_element_of_too_many_attributes_is_the_senders_to_fix(gateway: tuple[str, Gateway, Receiver]) -> None:
    """Review F2: lxml reads an element's attributes in quadratic time, in one call no deadline ends; the parser
    refuses more than 4,096 on one element before anything reads them, as bad input naming the element."""
    url, _, _ = gateway
    names = [f"a{i}" for i in range(4097)]
    wide = sample().replace(b"<wmo301:Client>", b"<wmo301:Client " + " ".join(f'{n}=""' for n in names).encode()
                            + b">")
    assert len(wide) < LIMIT
    response = httpx.post(url + "/soap", content=wide, headers=KEY)
    assert response.status_code == 400
    code, plek, omschrijving = body_of(fo03(response))
    assert (code, plek) == ("StUF055", "client")
    assert omschrijving == ("/wmo301:Bericht/wmo301:Clienten/wmo301:Client: element has 4,097 attributes: "
                            "expected at most 4,096 on one element")


def test_wrong_or_missing_credentials(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, rec = gateway
    before = len(rec.received)
    wrong = httpx.post(url + "/soap", content=sample(), headers={"X-API-Key": "sleutel-3"})
    missing = httpx.post(url + "/soap", content=sample())
    bearer = httpx.post(url + "/soap", content=sample(), headers={"Authorization": "Bearer sleutel-2"})
    assert (wrong.status_code, missing.status_code, bearer.status_code) == (401, 401, 200)
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert body_of(fo03(wrong))[:2] == ("StUF052", "client")
    assert metric(url, "overstap_rejected_total", route="default", reason="auth") == 2
    assert wait_for(lambda: len(rec.received) == before + 1)  # only the authorised one went on


def test_unknown_route(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, _ = gateway
    response = httpx.post(url + "/soap/nergens", content=sample())
    assert response.status_code == 404
    code, plek, omschrijving = body_of(fo03(response))
    assert (code, plek) == ("StUF010", "client") and "nergens" in omschrijving and "strict" in omschrijving
    assert metric(url, "overstap_rejected_total", route="unknown", reason="unknown_route") == 1


@pytest.mark.parametrize(("old", "new", "field"), [
    (b"<wmo301:Bsn>123456782</wmo301:Bsn>", b"", "clients.0.bsn"),
    (b"<wmo301:Geslacht>1</wmo301:Geslacht>", b"<wmo301:Geslacht>7</wmo301:Geslacht>", "clients.0.geslacht"),
    (b"<iwmo:Dagtekening>2016-02-20</iwmo:Dagtekening>", b"<iwmo:Dagtekening>2016-02-31</iwmo:Dagtekening>",
     "dagtekening"),
])
def test_schema_invalid_dialect_message_names_the_field(gateway: tuple[str, Gateway, Receiver], old: bytes,
                                                        new: bytes, field: str) -> None:
    url, gw, _ = gateway
    message = sample()
    assert old in message
    response = httpx.post(url + "/soap/strict", content=message.replace(old, new, 1))
    assert response.status_code == 422
    fo = fo03(response)
    code, plek, omschrijving = body_of(fo)
    assert (code, plek) == ("StUF055", "client")
    assert omschrijving.startswith(field), omschrijving
    assert fo.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == "1d8d1f0852bf"  # the sender's reference
    kept = outbox.message(outbox.connect(gw.db_path), int(response.headers["x-overstap-quarantine"]))
    assert kept["fault_field"].startswith(field) and kept["source_ref"] == "1d8d1f0852bf"


def test_unknown_dialect_in_soap12_gets_a_soap12_fault(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, _ = gateway
    response = httpx.post(url + "/soap/strict", content=soap12(b'<x:Bericht xmlns:x="urn:onbekend"/>'),
                          headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    assert root.findtext(f".//{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
    assert body_of(fo03(response, SOAP12))[2].startswith("dialect: unknown dialect")
    assert metric(url, "overstap_rejected_total", route="strict", reason="unknown_dialect") == 1


def test_a_ggk_envelope_may_exceed_the_general_limit(gateway: tuple[str, Gateway, Receiver]) -> None:
    """GGk spec 3.2/3.3: a Di01 "inclusief deze base64 inhoud" may be 25 MB, so the sidecar takes an envelope
    above ``max_body_bytes`` (64 KB here) and converts it; any other body of that size stays refused."""
    url, _, rec = gateway
    payload = sample("CasusB-01-WMO301_toewijzing.xml") + b"\n" * (LIMIT + 1000)  # trailing whitespace: still XML
    di01 = Converter(profile="ggk").convert(sample("CasusB-01-WMO301_toewijzing.xml")).outputs[0].xml
    big = re.sub(rb'(contentType="application/xml">)[^<]+', lambda m: m.group(1) + base64.b64encode(payload), di01)
    assert len(big) > LIMIT
    response = httpx.post(url + "/soap", content=big, headers=KEY)
    assert response.status_code == 200, response.text
    ref = response.headers["x-overstap-referentienummers"]
    assert wait_for(lambda: ref in rec.refs())
    header = b'<soap:Header><w:To xmlns:w="urn:w">isd</w:To></soap:Header>'  # in SOAP, after a Header: the same
    wrapped = soap11(big).replace(b"<soap:Body>", header + b"<soap:Body>", 1)
    assert httpx.post(url + "/soap", content=wrapped, headers=KEY).status_code == 200
    plain = httpx.post(url + "/soap", content=payload, headers=KEY)
    assert plain.status_code == 413
    assert body_of(fo03(plain))[2] == f"message larger than the limit of {LIMIT} bytes"


def test_a_content_length_past_the_envelope_limit_names_both_limits(gateway: tuple[str, Gateway, Receiver]) -> None:
    """Red-team review, session 24: a body whose Content-Length is past even a GGk envelope's 25 MB is refused unread,
    so it is not known to be an envelope; the answer named the general limit alone (64 KB here), and the sender of
    a 27 MB envelope read that 64 KB was the most while an 8 MB envelope had been taken. Now it names both."""
    url, _, _ = gateway
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /soap/strict HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: "
                  + str(25 * 1024 * 1024 + 1).encode() + b"\r\n\r\n" + GGK_ROOT)
        answer = b""
        while b"</soap:Envelope>" not in answer and (chunk := s.recv(65536)):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    fo = next(el for el in etree.fromstring(body).iter() if el.tag == f"{STUF}Fo03Bericht")
    assert body_of(fo) == ("StUF058", "server", f"message larger than the limit of {LIMIT} bytes "
                                                f"({25 * 1024 * 1024} for a StUF-GGk envelope)")


GGK_ROOT = b'<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="http://www.stufstandaarden.nl/sectormodel/ggk/0210">'


def test_naming_a_ggk_envelope_buys_a_plain_body_no_larger_limit(gateway: tuple[str, Gateway, Receiver]) -> None:
    """Review of the sidecar, finding 1: a plain body above the limit that named a GGk envelope in its first 4 KB (a
    comment was enough) was read up to 25 MB, parsed, kept in quarantine and answered 400 StUF058 plek *server* (so
    the sender offers it again). Now only a body whose root is an envelope gets 25 MB; the others stop at the limit,
    unread beyond it and not kept: 413, StUF058 with Tabel 4.1's plek server, but a soap:Client fault (SOAP 1.1
    §4.4.1: not to be resent without change), as the docs' table says."""
    url, _, _ = gateway
    plain = b"<a>" + b"x" * (LIMIT + 10) + b"</a>"
    before = metric(url, "overstap_rejected_total", route="strict", reason="oversize")
    for body in (b"<!-- " + GGK_ROOT + b" -->\n" + plain, b"<a>" + GGK_ROOT + b"</GGK:envelopHeenbericht-ggk_Di01>"
                 + plain[3:], soap11(b"<a>" + GGK_ROOT.replace(b"<", b"&lt;") + plain[3:])):
        response = httpx.post(url + "/soap/strict", content=body)
        assert response.status_code == 413, response.text
        assert body_of(fo03(response)) == ("StUF058", "server", f"message larger than the limit of {LIMIT} bytes")
        assert b"<faultcode>soap:Client</faultcode>" in response.content  # as it is it never passes
        assert "x-overstap-quarantine" not in response.headers  # refused unread, not parsed nor kept
    assert metric(url, "overstap_rejected_total", route="strict", reason="oversize") == before + 3


def test_a_size_refusal_after_the_parse_is_413_and_the_senders(gateway: tuple[str, Gateway, Receiver]) -> None:
    """What the read let through as an envelope but the parse found is none is refused by ingest at the general
    limit with StUF058: that too is the sender's to fix (413, soap:Client; Tabel 4.1 gives StUF058 plek server)."""
    url, _, _ = gateway
    fake_end = b"<!-- </soap:Header><soap:Body>" + GGK_ROOT + b" -->"  # fools the bounded scan, not the parser
    body = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>' + fake_end
            + b"</soap:Header><soap:Body><a>" + b"x" * (LIMIT + 10) + b"</a></soap:Body></soap:Envelope>")
    before = metric(url, "overstap_rejected_total", route="strict", reason="oversize")
    response = httpx.post(url + "/soap/strict", content=body)
    assert response.status_code == 413, response.text
    code, plek, omschrijving = body_of(fo03(response))
    assert b"<faultcode>soap:Client</faultcode>" in response.content
    assert (code, plek) == ("StUF058", "server") and omschrijving.endswith(f"more than the limit of {LIMIT}")
    assert metric(url, "overstap_rejected_total", route="strict", reason="oversize") == before + 1


def test_the_gateway_keeps_working_after_all_of_it(gateway: tuple[str, Gateway, Receiver]) -> None:
    url, _, rec = gateway
    assert httpx.get(url + "/healthz").status_code == 200
    fresh = sample("CasusB-01-WMO301_toewijzing.xml").replace(b"658721123", b"658721999")  # a zaak no test made yet
    ok = httpx.post(url + "/soap/strict", content=fresh)
    assert ok.status_code == 200
    ref = ok.headers["x-overstap-referentienummers"]
    assert wait_for(lambda: ref in rec.refs())
    assert metric(url, "overstap_received_total", route="strict") >= 5


def test_strict_soap11_status_is_500_for_every_fault(tmp_path_factory: pytest.TempPathFactory) -> None:
    samples_dir()
    cfg = from_dict({"data_dir": str(tmp_path_factory.mktemp("soap")), "watch_mappings": False, "convert_processes": 0,
                     "fault_status": "soap", "routes": {"default": {"downstream": "http://127.0.0.1:9/x"}}})
    with ServerThread(create_app(cfg, Gateway(cfg, Registry(dirs=[])))) as server:
        assert httpx.post(server.url + "/soap", content=b"<a>").status_code == 500
        assert httpx.post(server.url + "/soap/x", content=b"<a/>").status_code == 500
