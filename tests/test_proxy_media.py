"""A body the sidecar cannot read as XML, judged from its Content-Encoding and Content-Type, is refused 415 unread.

Failed before (session 23 review): a gzip body was read as XML and refused as not well-formed (kept in
quarantine as junk), and ``Content-Type: application/json`` was taken as XML and acknowledged. What senders of
bare XML send (no Content-Type, ``application/xml``) and both SOAP media types stay accepted. Real sidecar on
127.0.0.1, real SQLite outbox.
"""

from __future__ import annotations

import gzip

import httpx
import pytest
from proxy_helpers import SOAP12, Receiver, ServerThread, Start, metric, sample, soap11, soap12, variant
from test_proxy_refusal import is_fo03, table
from test_proxy_soap_front import answered_in


def omschrijving(response: httpx.Response) -> str:
    text = response.text
    return text.split("<StUF:omschrijving>", 1)[1].split("</StUF:omschrijving>", 1)[0]


def test_a_gzip_body_is_refused_415_naming_the_encoding_and_nothing_is_kept(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {}, fault_status="http")
        refused = httpx.post(gw_server.url + "/soap", content=gzip.compress(soap11(sample())),
                             headers={"Content-Type": "text/xml; charset=utf-8", "Content-Encoding": "gzip"})
        assert refused.status_code == 415 and is_fo03(refused, "StUF055")
        assert omschrijving(refused) == (
            "Content-Encoding 'gzip' is not read: send the XML uncompressed (no Content-Encoding, or identity) as "
            "text/xml (SOAP 1.1), application/soap+xml (SOAP 1.2) or application/xml (bare XML)")
        assert table(gw, "message") == [] and rec.received == []
        assert metric(gw_server.url, "overstap_rejected_total", route="default", reason="unsupported_media_type") == 1


def test_json_is_refused_in_the_soap_version_of_its_content_type(start: Start) -> None:
    gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                          require_downstream_ready=False)
    refused = httpx.post(gw_server.url + "/soap", content=soap11(sample()),
                         headers={"Content-Type": "application/json"})
    assert refused.status_code == 500 and answered_in(refused)[1:] == ("text/xml", "soap:Client")
    assert omschrijving(refused) == ("Content-Type 'application/json' is no XML: expected text/xml (SOAP 1.1), "
                                     "application/soap+xml (SOAP 1.2) or application/xml (bare XML)")
    zipped = httpx.post(gw_server.url + "/soap", content=gzip.compress(soap12(sample())),
                        headers={"Content-Type": "application/soap+xml; charset=utf-8", "Content-Encoding": "br, gzip"})
    assert zipped.status_code == 400 and answered_in(zipped) == (SOAP12, "application/soap+xml", "soap:Sender")
    assert "'br, gzip'" in omschrijving(zipped) and table(gw, "message") == []


@pytest.mark.parametrize(("n", "headers"), [
    (1, {}),
    (2, {"Content-Type": "application/xml"}),
    (3, {"Content-Type": "text/xml; charset=utf-8", "Content-Encoding": "identity"}),
    (4, {"Content-Type": "Application/SOAP+XML; charset=utf-8; action=\"x\""}),
    (5, {"Content-Type": "application/vnd.example+xml"}),
])
def test_xml_media_types_and_none_stay_accepted(start: Start, n: int, headers: dict[str, str]) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, _ = start({"default": {"downstream": ds.url}}, {})
        answer = httpx.post(gw_server.url + "/soap", content=soap11(variant(sample(), n)), headers=headers)
    assert answer.status_code == 200 and b"Bv03Bericht" in answer.content
