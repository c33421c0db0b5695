"""What the sidecar answers its senders, read over real HTTP as a StUF 03.01 / StUF-GGk client reads it.

Why: a sender's StUF stack matches the answer to its message (crossRefnummer), orders the answers of one
zender by tijdstipBericht and, in the ISD-keten, checks that every reference is a UUID. The values expected
here are written by hand from the standard (docs/deploy-sidecar.md, *What the sender gets back*), not taken
from the code that makes them.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from lxml import etree
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, variant
from test_proxy import stuf_reply

from gateway.pipeline import Converter

STUF = "{http://www.egem.nl/StUF/StUF0301}"
A02 = "CasusA-02-WMO301_toewijzing.xml"
UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
"""The UUID v4 form the ISD-keten checks references against (VECOZO CC04, Inlichtingenbureau IB009)."""


def stuurgegeven(message: etree._Element, path: str) -> str | None:
    return message.findtext(f"{STUF}stuurgegevens/" + "/".join(STUF + step for step in path.split("/")))


def test_tijdstip_bericht_of_the_answers_rises_strictly_even_when_acknowledged_together(start: Start) -> None:
    """StUF 03.01 4.3.2: the tijdstipBericht of a message is greater than that of every message the same system
    made before. Acknowledgements released by one outbox commit are made within the same millisecond."""
    with ServerThread(Receiver().app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url}}, {})
        base = sample(A02)
        bodies = [variant(base, n, zaak=n) for n in range(40)]
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda body: client.post(server.url + "/soap", content=body), bodies))
    assert [a.status_code for a in answers] == [200] * 40
    moments = [stuurgegeven(stuf_reply(a), "tijdstipBericht") or "" for a in answers]
    assert all(re.fullmatch(r"\d{17}", m) for m in moments), moments
    assert len(set(moments)) == 40, sorted(moments)  # no two alike: a strictly rising sequence


def _di01(zender_applicatie: str = "WMOSYS") -> tuple[bytes, str]:
    """A StUF-GGk Di01 (a toewijzing) as the chain sends it, from the gemeente's system
    ``0384/<zender_applicatie>/gemeente 0384`` to ``98025566/GGk``; and its referentienummer."""
    envelope = Converter(profile="ggk").convert(sample(A02)).outputs[0]
    xml = envelope.xml.replace(b"<StUF:applicatie>OVERSTAP</StUF:applicatie>",
                               f"<StUF:applicatie>{zender_applicatie}</StUF:applicatie>".encode(), 1)
    assert b"<StUF:administratie>gemeente 0384</StUF:administratie>" in xml
    assert b"<StUF:organisatie>98025566</StUF:organisatie>\r\n\t\t\t<StUF:applicatie>GGk</StUF:applicatie>" in xml
    return xml, envelope.referentienummer


def _refused_di01(di01: bytes) -> bytes:
    """The same Di01 with a payload that is not base64 (the envelope refused, its stuurgegevens readable)."""
    start_payload = di01.index(b"<GGK:bericht")
    end_payload = di01.index(b"</GGK:bericht>")
    return di01[:start_payload] + b'<GGK:bericht xmime:contentType="application/xml">@@@' + di01[end_payload:]


def _answers(server_url: str, di01: bytes) -> tuple[etree._Element, etree._Element]:
    """The Bv03 that acknowledges ``di01`` and the Fo03 that refuses its broken twin."""
    accepted = httpx.post(server_url + "/soap", content=soap11(di01), headers={"Content-Type": "text/xml"})
    assert accepted.status_code == 200
    bv03 = stuf_reply(accepted)
    assert bv03.tag == f"{STUF}Bv03Bericht" and stuurgegeven(bv03, "berichtcode") == "Bv03"
    refused = httpx.post(server_url + "/soap", content=soap11(_refused_di01(di01)),
                         headers={"Content-Type": "text/xml"})
    assert refused.status_code >= 400
    fo03 = stuf_reply(refused)
    assert fo03.tag == f"{STUF}Fo03Bericht" and stuurgegeven(fo03, "berichtcode") == "Fo03"
    return bv03, fo03


def test_the_answers_to_a_ggk_di01_carry_references_the_isd_keten_accepts(start: Start) -> None:
    """GGk 2.4: "De elementen stuurgegevens.Referentienummer en stuurgegevens.crossRefnummer dienen gevuld te worden
    met geldige, en unieke, Universally Unique Identifiers (UUID)"; a chain party refuses anything else (CC04, IB009).
    StUF 03.01 4.4.1/4.4.3: the crossRefnummer is the referentienummer of the message answered."""
    with ServerThread(Receiver().app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url}}, {})
        di01, ref = _di01()
        answers = _answers(server.url, di01)
    for message in answers:
        assert stuurgegeven(message, "crossRefnummer") == ref
        assert UUID4.fullmatch(stuurgegeven(message, "referentienummer") or ""), stuurgegeven(message,
                                                                                               "referentienummer")
    assert len({stuurgegeven(m, "referentienummer") for m in answers}) == 2


def test_a_ggk_di01_is_answered_from_its_own_addressee_to_its_own_sender(start: Start) -> None:
    """StUF 03.01 4.4.1 (Bv03) and 4.4.3 (Fo03): "De elementen zender en ontvanger in de stuurgegevens [...] worden
    gevuld op basis van de waarden in het bericht naar aanleiding waarvan het [...] bericht wordt aangemaakt": the
    Di01's ontvanger answers, to the Di01's zender (administratie included: 4.2, it names the system)."""
    with ServerThread(Receiver().app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url}}, {})
        di01, _ref = _di01()
        answers = _answers(server.url, di01)
    for message in answers:
        assert stuurgegeven(message, "zender/organisatie") == "98025566"
        assert stuurgegeven(message, "zender/applicatie") == "GGk"
        assert stuurgegeven(message, "zender/administratie") is None
        assert stuurgegeven(message, "ontvanger/organisatie") == "0384"
        assert stuurgegeven(message, "ontvanger/applicatie") == "WMOSYS"
        assert stuurgegeven(message, "ontvanger/administratie") == "gemeente 0384"
