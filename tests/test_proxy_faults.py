"""The sidecar's SOAP faults: HTTP status per SOAP binding, StUF foutcode and plek per StUF 03.01 Tabel 4.1, and
no downstream text about a person relayed to the sender.

Why: JAX-WS (Metro) and WCF SOAP 1.1 clients raise a transport error on a Fault that does not come with HTTP 500
(SOAP 1.1 §6.2, WS-I BP 1.1 R1126), so the vendor's code never sees the Fo03; a foutcode paired with the wrong
plek sends people looking for the cause in the wrong place; and a downstream's omschrijving may quote a BSN.
The expected values here are written by hand from the tables, not taken from the code.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from lxml import etree
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, soap12

from gateway.render import stuf
from gateway.render.foutcodes import TABEL, plek_of
from gateway.render.schemas import errors_of

STUF = "{http://www.egem.nl/StUF/StUF0301}"
SOAP11 = "{http://schemas.xmlsoap.org/soap/envelope/}"
SOAP12 = "{http://www.w3.org/2003/05/soap-envelope}"
BSN = "999993653"  # passes the 11-proef
NAME = "Jantje de Vries-Bakker"


def fault_of(response: httpx.Response) -> tuple[str, etree._Element]:
    """(the SOAP faultcode or env:Code Value, the Fo03 in its detail), both checked for shape."""
    root = etree.fromstring(response.content)
    fault = next(el for el in root.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "Fault")
    code = fault.findtext("faultcode") if root.tag == f"{SOAP11}Envelope" else fault.findtext(
        f"{SOAP12}Code/{SOAP12}Value")
    fo = next(el for el in root.iter() if el.tag == f"{STUF}Fo03Bericht")
    assert errors_of(fo, "stuf") == []
    return code or "", fo


def code_plek(fo: etree._Element) -> tuple[str | None, str | None]:
    return fo.findtext(f"{STUF}body/{STUF}code"), fo.findtext(f"{STUF}body/{STUF}plek")


def test_tabel_4_1_codes_and_their_plek() -> None:
    """Tabel 4.1 (and 5.8) as read by hand: code -> plek, and which foutberichten list it."""
    by_hand = {"StUF010": "client", "StUF013": "client", "StUF016": "client", "StUF025": "server",
               "StUF046": "server", "StUF049": "server", "StUF052": "client", "StUF055": "client",
               "StUF058": "server", "StUF064": "server", "StUF960": "server"}
    assert {code: plek_of(code) for code in by_hand} == by_hand
    assert TABEL["StUF046"].soort == (3,) and TABEL["StUF049"].soort == (2,)
    assert TABEL["StUF055"].soort == TABEL["StUF058"].soort == TABEL["StUF052"].soort == (1, 2)
    assert stuf.Fout.of("StUF058", "x").plek == "server" and stuf.Fout.of("StUF016", "x").plek == "client"


def test_a_soap11_refusal_is_http_500_with_the_fault_by_default(start: Start) -> None:
    """Fails under the old default (``fault_status: http`` gave 400): the Fault comes with 500, as text/xml."""
    gw_server, _ = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    response = httpx.post(gw_server.url + "/soap", content=soap11(b"<Bericht><Header></Bericht>"),
                          headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/xml")
    faultcode, fo = fault_of(response)
    assert faultcode == "soap:Client" and code_plek(fo) == ("StUF055", "client")


def test_a_soap12_fault_follows_its_own_binding(start: Start) -> None:
    """SOAP 1.2 Part 2 §7.5: env:Sender is 400, env:Receiver 500 (a 1.2 client is not held to R1126)."""
    gw_server, _ = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {})
    response = httpx.post(gw_server.url + "/soap", content=soap12(b"<Bericht><Header></Bericht>"),
                          headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/soap+xml")
    faultcode, fo = fault_of(response)
    assert faultcode == "soap:Sender" and code_plek(fo) == ("StUF055", "client")
    receiver = stuf.Fout.of("StUF046", "the message could not be stored")
    assert stuf.http_status(receiver, "soap12") == 500 and stuf.http_status(receiver, "soap11") == 500
    assert b"<soap:Value>soap:Receiver</soap:Value>" in stuf.fault(b"<a/>", receiver, "soap12")


@pytest.mark.parametrize("mode, status", [("soap", 500), ("http", 413)])
def test_a_body_too_large_is_stuf058_server_but_a_soap_client_fault(start: Start, mode: str, status: int) -> None:
    """Tabel 4.1 gives StUF058 plek server; as it is the message never passes, so SOAP says Client (do not
    resend without change), in either mode."""
    gw_server, _ = start({"default": {"downstream": "http://127.0.0.1:9/x"}}, {}, max_body_bytes=4096,
                         fault_status=mode)
    response = httpx.post(gw_server.url + "/soap", content=soap11(b"<a>" + b"x" * 8192 + b"</a>"))
    assert response.status_code == status
    faultcode, fo = fault_of(response)
    assert faultcode == "soap:Client" and code_plek(fo) == ("StUF058", "server")


def test_a_downstreams_fo_text_is_not_relayed_nor_logged(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """translate + ``ack: delivered``: the downstream's Fo omschrijving named a person and their BSN. The sender
    gets the downstream's code and plek, the text described by its length; neither answer nor log repeats it."""
    rec = Receiver(behaviour="fo", fo_omschrijving=f"client {NAME} (BSN {BSN}) onbekend in de registratie")
    with ServerThread(rec.app()) as ds, caplog.at_level(logging.DEBUG):
        gw_server, _ = start({"default": {"downstream": ds.url, "ack": "delivered", "ack_timeout": 10}}, {})
        response = httpx.post(gw_server.url + "/soap", content=sample("CasusB-01-WMO301_toewijzing.xml"))
        assert response.status_code == 500
        faultcode, fo = fault_of(response)
        assert faultcode == "soap:Client" and code_plek(fo) == ("StUF055", "client")
        omschrijving = fo.findtext(f"{STUF}body/{STUF}omschrijving") or ""
        assert "refused downstream" in omschrijving and "characters" in omschrijving
    for said in (BSN, NAME, "Jantje", BSN[-4:] + ")"):
        assert said not in response.text
    logged = [r.getMessage() + " " + " ".join(str(v) for v in r.__dict__.values()) for r in caplog.records]
    assert logged and not [line for line in logged if BSN in line or "Jantje" in line]
