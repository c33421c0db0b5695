"""The testbed's answers as HTTP and SOAP, over a real server on 127.0.0.1: who they are addressed to, in which SOAP
version, and what a body too large, too slow, or with a header the testbed must understand gets.

Why: a vendor points its own system at the testbed to see whether it gets the answers a zaaksysteem gives. StUF
03.01 §4.4.1/§4.4.3 address a Bv03/Fo03 back to the message's own parties, a Fo02 carries only its berichtcode, SOAP
1.2 answers in SOAP 1.2 and names its action in the media type, and SOAP 1.1 §4.2.3 says a header marked
mustUnderstand that is not understood is a fault; a body that never ends must not hold the testbed's memory.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree
from proxy_helpers import ServerThread, soap11, wait_for
from receiver_messages import CREEER, UPDATE, creeer_object, lk01
from test_testbed import DI02, GZI, _ggk_pair

from gateway.httpguard.bodies import FREE_BODY_BYTES
from gateway.receiver import Receiver
from gateway.render import stuf
from gateway.render.schemas import errors_of
from gateway.testbed import Journal, create_app
from gateway.testbed.limits import Limits

S = f"{{{stuf.STUF_NS}}}"
SOAP12 = stuf.SOAP12_NS
SYSTEEMS = ("<StUF:zender><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie>"
            "</StUF:zender>", "<StUF:ontvanger><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>ZAAKSYSTEEM"
            "</StUF:applicatie></StUF:ontvanger>")
FULL_ZENDER = ("<StUF:zender><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie>"
               "<StUF:administratie>Wmo</StUF:administratie><StUF:gebruiker>jdevries</StUF:gebruiker></StUF:zender>")
FULL_ONTVANGER = ("<StUF:ontvanger><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>ZAAKSYSTEEM"
                  "</StUF:applicatie><StUF:administratie>Zaken</StUF:administratie><StUF:gebruiker>svc-zaken"
                  "</StUF:gebruiker></StUF:ontvanger>")


@pytest.fixture()
def testbed(tmp_path: Path, reference_dir: Path) -> Iterator[tuple[ServerThread, Receiver]]:
    receiver = Receiver()
    journal = Journal(tmp_path / "testbed")
    server = ServerThread(create_app(receiver, journal)).start()
    yield server, receiver
    server.stop()
    journal.close()


def _full_parties(message: bytes) -> bytes:
    return message.replace(SYSTEEMS[0].encode(), FULL_ZENDER.encode()).replace(SYSTEEMS[1].encode(),
                                                                                FULL_ONTVANGER.encode())


def _soap12(message: bytes) -> bytes:
    return f'<env:Envelope xmlns:env="{SOAP12}"><env:Body>'.encode() + message + b"</env:Body></env:Envelope>"


def _systeem(root: etree._Element, who: str) -> dict[str, str]:
    found = root.find(f".//{S}stuurgegevens/{S}{who}")
    assert found is not None
    return {etree.QName(el).localname: el.text for el in found}


def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url + "/soap", content=body, headers=headers, timeout=30)


def test_bv03_and_fo03_are_addressed_from_the_message_s_ontvanger_to_its_zender_every_part_kept(
        testbed: tuple[ServerThread, Receiver]) -> None:
    tb, _receiver = testbed
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": CREEER}
    created = _post(tb.url, soap11(_full_parties(lk01("T", creeer_object(), "ref-1", "20260102100000000"))), headers)
    assert created.status_code == 200, created.text
    bv03 = etree.fromstring(created.content)
    assert _systeem(bv03, "zender") == {"organisatie": "0384", "applicatie": "ZAAKSYSTEEM", "administratie": "Zaken",
                                        "gebruiker": "svc-zaken"}
    assert _systeem(bv03, "ontvanger") == {"organisatie": "0384", "applicatie": "OVERSTAP", "administratie": "Wmo",
                                           "gebruiker": "jdevries"}
    # a body the receiver refuses before it reads the stuurgegevens (schema): still addressed back, crossRef too
    bad = lk01("T", creeer_object().replace("<ZKN:identificatie>", "<ZKN:bogus>x</ZKN:bogus><ZKN:identificatie>", 1),
               "ref-bad", "20260102100000001")
    refused = _post(tb.url, soap11(_full_parties(bad)), headers)
    assert refused.status_code == 500 and refused.headers["x-testbed-rule"] == "schema"
    fo03 = etree.fromstring(refused.content)
    assert _systeem(fo03, "zender")["applicatie"] == "ZAAKSYSTEEM"
    assert _systeem(fo03, "ontvanger") == {"organisatie": "0384", "applicatie": "OVERSTAP", "administratie": "Wmo",
                                           "gebruiker": "jdevries"}
    assert fo03.findtext(f".//{S}crossRefnummer") == "ref-bad"
    assert errors_of(fo03.find(f".//{S}Fo03Bericht"), "stuf") == []


def test_a_ggk_bv03_goes_back_to_the_envelope_s_zender(testbed: tuple[ServerThread, Receiver]) -> None:
    tb, _receiver = testbed
    di01, _du01 = _ggk_pair()
    sent = etree.fromstring(di01)
    answer = _post(tb.url, soap11(di01), {"Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 200, answer.text
    bv03 = etree.fromstring(answer.content)

    def parts(who: str) -> dict[str, str]:
        el = sent.find(f".//{{*}}stuurgegevens/{{*}}{who}")
        return {etree.QName(c).localname: c.text for c in el}

    assert _systeem(bv03, "ontvanger") == parts("zender") and parts("zender")["applicatie"] != "onbekend"
    assert _systeem(bv03, "zender") == parts("ontvanger")


def test_a_soap12_request_is_answered_in_soap12_and_its_action_parameter_is_its_soapaction(
        testbed: tuple[ServerThread, Receiver]) -> None:
    tb, receiver = testbed
    message = _soap12(lk01("T", creeer_object(), "ref-1", "20260102100000000"))
    wrong = _post(tb.url, message, {"Content-Type": f'application/soap+xml; charset=utf-8; action="{UPDATE}"'})
    assert wrong.headers.get("x-testbed-rule") == "soapaction", wrong.text  # a T under updateZaak_Lk01
    assert len(receiver) == 0
    created = _post(tb.url, message, {"Content-Type": f'application/soap+xml; charset=utf-8; action="{CREEER}"'})
    assert created.status_code == 200, created.text
    assert created.headers["content-type"] == stuf.CONTENT_TYPE["soap12"]
    root = etree.fromstring(created.content)
    assert root.tag == f"{{{SOAP12}}}Envelope" and root.find(f"{{{SOAP12}}}Body/{S}Bv03Bericht") is not None
    # a Sender fault: HTTP 400 and env:Sender (SOAP 1.2 Part 2 §7.5.1)
    bad = _soap12(lk01("T", creeer_object().replace("<ZKN:identificatie>", "<ZKN:bogus/><ZKN:identificatie>", 1),
                       "ref-2", "20260102100000001"))
    refused = _post(tb.url, bad, {"Content-Type": "application/soap+xml; charset=utf-8"})
    assert (refused.status_code, refused.headers["content-type"]) == (400, stuf.CONTENT_TYPE["soap12"])
    fault = etree.fromstring(refused.content).find(f"{{{SOAP12}}}Body/{{{SOAP12}}}Fault")
    assert fault.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value") == "soap:Sender"
    assert fault.find(f"{{{SOAP12}}}Detail/{S}Fo03Bericht") is not None


def test_a_body_over_the_limit_is_a_fo03_stuf058_in_a_soap_fault(testbed: tuple[ServerThread, Receiver]) -> None:
    tb, _receiver = testbed
    answer = _post(tb.url, b"<x>" + b"a" * (11 * 1024 * 1024) + b"</x>", {"Content-Type": "text/xml"})
    assert (answer.status_code, answer.headers["content-type"]) == (413, stuf.CONTENT_TYPE["soap11"])
    root = etree.fromstring(answer.content)
    assert root.findtext(".//faultcode") == "soap:Client"  # as it is it never passes (SOAP 1.1 §4.4.1)
    assert root.findtext(f".//{S}Fo03Bericht/{S}body/{S}code") == "StUF058"


def test_a_fo02_carries_only_its_berichtcode(testbed: tuple[ServerThread, Receiver]) -> None:
    tb, _receiver = testbed
    wrong = _post(tb.url, soap11(DI02.format(ref="gzi-x", functie="geefZaakdocumentbewerken").encode()),
                  {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": GZI})
    assert wrong.status_code == 500
    fo02 = etree.fromstring(wrong.content).find(f".//{S}Fo02Bericht")
    assert [etree.QName(el).localname for el in fo02.find(f"{S}stuurgegevens")] == ["berichtcode"]
    assert fo02.findtext(f"{S}body/{S}code") == "StUF055"
    assert errors_of(fo02, "stuf") == []  # StUF 03.01 §4.4.3 and stuf0301.xsd's Fo02Bericht


MU_HEADER = '<soap:Header><x:Sec xmlns:x="urn:x" soap:mustUnderstand="{}"{}/></soap:Header><soap:Body>'


@pytest.mark.parametrize("version", ["soap11", "soap12"])
def test_a_header_block_marked_mustunderstand_is_a_fault_and_nothing_is_applied(
        version: stuf.SoapVersion, testbed: tuple[ServerThread, Receiver]) -> None:
    tb, receiver = testbed
    ns = stuf.SOAP_NS[version]
    flag, not_mine = ("1", ' soap:actor="urn:elsewhere"') if version == "soap11" else ("true", ' soap:role="urn:x"')
    message = stuf.envelope(lk01("T", creeer_object(), "ref-1", "20260102100000000"), version)
    headers = {"Content-Type": stuf.CONTENT_TYPE[version], "SOAPAction": CREEER}
    refused = _post(tb.url, message.replace(b"<soap:Body>", MU_HEADER.format(flag, "").encode()), headers)
    assert refused.status_code == 500 and len(receiver) == 0
    fault = etree.fromstring(refused.content).find(f"{{{ns}}}Body/{{{ns}}}Fault")
    code = fault.findtext("faultcode") if version == "soap11" else fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value")
    assert code == "soap:MustUnderstand" and b"urn:x" in refused.content
    # not marked, or meant for another node: not the testbed's to understand (the second is the first again)
    for extra in (MU_HEADER.format("0", ""), MU_HEADER.format(flag, not_mine)):
        assert _post(tb.url, message.replace(b"<soap:Body>", extra.encode()), headers).status_code == 200
    assert len(receiver) == 1


def _stalled(port: int, declared: int, sent: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.sendall(b"POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n" % declared)
    conn.sendall(b"<a>" + b"x" * (sent - 3))
    return conn


def _answer(conn: socket.socket, within: float) -> bytes:
    conn.settimeout(within)
    data = b""
    try:
        while chunk := conn.recv(65536):
            data += chunk
    except TimeoutError:
        pass
    return data


def test_a_stalled_body_is_answered_in_time_and_bodies_share_a_budget(tmp_path: Path, reference_dir: Path) -> None:
    limits = Limits(max_body_bytes=1024 * 1024, body_timeout=1.5, max_body_buffer_bytes=1024 * 1024)
    app = create_app(Receiver(), limits=limits)
    server = ServerThread(app).start()
    try:
        held = _stalled(server.port, 1024 * 1024, 900 * 1024)  # holds ~836 KiB of the 1 MiB budget
        # read and counted before the next body comes (a 0.3 s pause was not always enough on a loaded host)
        assert wait_for(lambda: app.state.body_budget.held >= 900 * 1024 - FREE_BODY_BYTES, timeout=10)
        busy = _post(server.url, b"<x>" + b"a" * (400 * 1024) + b"</x>", {"Content-Type": "text/xml"})
        assert (busy.status_code, busy.headers.get("retry-after")) == (503, "5"), busy.text
        assert b"<StUF:code>StUF046</StUF:code>" in busy.content
        started = time.monotonic()
        answer = _answer(held, 10)
        assert answer.startswith(b"HTTP/1.1 408") and b"<StUF:code>StUF058</StUF:code>" in answer
        assert time.monotonic() - started < 5
        held.close()
        fits = _post(server.url, b"<x>" + b"a" * (400 * 1024) + b"</x>", {"Content-Type": "text/xml"})
        assert fits.status_code == 500 and b"StUF058" not in fits.content  # taken, and refused for what it is
    finally:
        server.stop()


@pytest.mark.parametrize(("content_type", "version"), [("text/xml; charset=utf-8", "soap11"),
                                                       ("application/soap+xml; charset=utf-8", "soap12")])
def test_a_soap_body_cut_off_below_the_minimum_rate_is_answered_with_a_soap_fault_of_its_version(
        reference_dir: Path, content_type: str, version: stuf.SoapVersion) -> None:
    """The guard cut such a body off with a text/plain 408, where the testbed answers a body that misses its
    deadline with a Fo03 StUF058 in a SOAP Fault: a SOAP client of /soap now reads a SOAP Fault either way.
    The testbed as ``overstap testbed`` serves it (``guarded_config``), real uvicorn, a raw socket."""
    import threading

    import uvicorn

    from gateway.httpguard.limits import HttpLimits
    from gateway.testbed.limits import guarded_config

    http = HttpLimits(min_body_rate=100_000, body_rate_window=0.5)
    server = uvicorn.Server(guarded_config(create_app(Receiver()), "127.0.0.1", 0, http))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started and bool(server.servers))
        port = server.servers[0].sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: "
                         "1000000\r\n\r\n".encode() + b"<a>" + b"x" * 60_000)  # the first window paid, then nothing
            answer = _answer(conn, 10)
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 408 Request Timeout", answer[:300]
        assert f"content-type: {stuf.CONTENT_TYPE[version]}" in lines and "connection: close" in lines
        fault = etree.fromstring(body)
        assert fault.tag == f"{{{SOAP_NS[version]}}}Envelope"
        assert fault.findtext(f".//{{{STUF_NS}}}code") == "StUF058"
        assert fault.findtext(f".//{{{STUF_NS}}}omschrijving") == ("request body arrived at less than 100000 bytes a "
                                                                   "second")
    finally:
        server.should_exit = True
        thread.join(10)


SOAP_NS = {"soap11": "http://schemas.xmlsoap.org/soap/envelope/", "soap12": "http://www.w3.org/2003/05/soap-envelope"}
STUF_NS = "http://www.egem.nl/StUF/StUF0301"

