"""What the reference receiver answers and shows, held to StUF 03.01 and the house rules.

Why: a review found StUF064 answered with plek client (Tabel 5.8: "Object niet gevonden 2 StUF064 Server"), a
schema-invalid or wrongly actioned but readable message answered 'onbekend' instead of to its zender and
referentienummer (§4.4.1), and an ``inp.bsn`` failing the elfproef (schema-valid: nine digits) shown unmasked on
the testbed's pages. Real receivers, a real testbed over HTTP on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from proxy_helpers import ServerThread, soap11
from receiver_messages import CREEER, ZAAK, creeer_object, lk01

from gateway.receiver import Receiver, Zender
from gateway.receiver.apply import refuse
from gateway.render.foutcodes import TABEL, plek_of
from gateway.testbed import Journal, create_app

INVALID = lk01("T", creeer_object().replace("<ZKN:identificatie>", "<ZKN:bogus>x</ZKN:bogus><ZKN:identificatie>", 1),
               "ref-invalid", "20260102100000000")
"""Schema-invalid (an element ZAK does not have), its stuurgegevens readable."""


def post(url: str, body: bytes, action: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", **({"SOAPAction": action} if action else {})}
    return httpx.post(url + "/soap", content=soap11(body), headers=headers, timeout=30)


def test_every_code_the_receiver_refuses_with_has_the_plek_stuf_gives_it() -> None:
    """StUF 03.01 Tabel 4.1 and 5.8: "Object niet gevonden 2 StUF064 Server"."""
    assert {code: refuse("r", "e", "t", code).plek for code in TABEL} == {code: plek_of(code) for code in TABEL}


def test_a_readable_message_refused_while_read_is_answered_to_its_zender_and_referentienummer(
        reference_dir: Path) -> None:
    """StUF 03.01 §4.4.1: "Het crossRefNummer wordt gevuld met het referentienummer van het bericht naar aanleiding
    waarvan het foutbericht wordt aangemaakt"."""
    receiver = Receiver()
    for message, action, code in ((INVALID, CREEER, "StUF055"),
                                  (lk01("T", creeer_object(), "ref-invalid", "20260102100000000"),
                                   "http://www.egem.nl/StUF/sector/zkn/0310/verwijderZaak_Lk01", "StUF025")):
        answer = receiver.receive(message, action)
        assert (answer.accepted, answer.code) == (False, code)
        assert (answer.referentienummer, answer.zender) == ("ref-invalid", Zender("0384", "OVERSTAP", ""))


def test_a_bsn_failing_the_elfproef_is_masked_by_its_element(tmp_path: Path, reference_dir: Path) -> None:
    """The schema's BSN is only nine digits: a mistyped BSN is still a person's number."""
    receiver = Receiver()
    server = ServerThread(create_app(receiver, Journal(tmp_path / "tb"))).start()
    try:
        create = lk01("T", creeer_object().replace("999993653", "123456789"), "ref-1", "20260102100000000")
        assert post(server.url, create, CREEER).status_code == 200
        for page in ("/zaken", f"/zaken/{ZAAK}", "/api/zaken", f"/api/zaken/{ZAAK}"):
            shown = httpx.get(server.url + page).text
            assert "123456789" not in shown and "inp.bsn=*******89" in shown, page
    finally:
        server.stop()
