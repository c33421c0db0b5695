"""``overstap testbed``: the test zaaksysteem a vendor (and ``make run``) points canonical messages at.

Why: a testbed is only worth pointing a system at if it ends in the zaak state the chain says and refuses
what StUF says a receiver refuses, naming the rule, over real HTTP. The sidecar in translate mode delivers
the public sample chains to a real testbed server; hand-made wrong messages are posted to it directly; a
restart must bring back the same zaken; the pages are checked in a real browser.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from browser_helpers import BROWSER_ARGS, CHROMIUM, browser_entry
from proxy_helpers import ServerThread, free_port, sample, samples_dir, soap11, wait_for
from test_proxy_ledger import A01, A02, A04, B01, B02, B04, start
from test_receiver import (
    CLIENT_BSN,
    CREEER,
    STATUS,
    UPDATE,
    W_NIEUW,
    W_OUD,
    ZAAK,
    creeer_object,
    gestart,
    lk01,
    update_objects,
)

from gateway.mapping import Registry
from gateway.receiver import Receiver
from gateway.testbed import Journal, create_app
from gateway.testbed.ggk import GgkIntake

B_ZAAK = re.compile(r"^0384B658721123-[0-9A-F]{10}$")


@pytest.fixture()
def testbed(tmp_path: Path, reference_dir: Path) -> tuple[ServerThread, Receiver, Path]:
    receiver = Receiver()
    journal = Journal(tmp_path / "testbed")
    server = ServerThread(create_app(receiver, journal)).start()
    yield server, receiver, tmp_path / "testbed"
    server.stop()
    journal.close()


def post(url: str, body: bytes, action: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", **({"SOAPAction": action} if action else {})}
    return httpx.post(url + "/soap", content=soap11(body), headers=headers, timeout=30)


def test_the_sample_chains_through_the_sidecar_end_in_the_zaak_state_they_describe(
        tmp_path: Path, testbed: tuple[ServerThread, Receiver, Path]) -> None:
    samples_dir()
    tb, receiver, folder = testbed
    # The testbed refuses a tijdstipBericht not after the zender's last one (StUF019), as a zaaksysteem may: only
    # one delivery at a time, in the order they were made, brings the zaken's messages as they were stamped, also
    # when a slow answer on a loaded machine makes one delivery be retried (`order: created`, as `make run` has it;
    # docs/deploy-sidecar.md).
    server, _gw = start(tmp_path, Registry(), {"url": tb.url + "/soap", "concurrency": 1, "order": "created"})
    try:
        for name in (A01, A02, A04, B01, B02, B04):
            assert httpx.post(server.url + "/soap", content=soap11(sample(name)), timeout=30).status_code == 200
        assert wait_for(lambda: len(Journal(folder).entries()) == 11, timeout=30)
    finally:
        server.stop()
    zaken = httpx.get(tb.url + "/api/zaken").json()
    (b_id,) = [key for key in zaken if B_ZAAK.match(key)]
    b = zaken[b_id]
    # CasusB: 301 Beschikkingnummer 658721123, toegewezen 2016-03-07 t/m 2016-12-31; 305 Begindatum 2016-03-10;
    # 307 Einddatum 2016-10-02, RedenBeeindiging 02 (values read from the three sample files)
    assert (b["zaaktype"], b["startdatum"], b["einddatumGepland"], b["einddatum"]) == (
        "WMOTOEW", "20160307", "20161231", "20161002")
    assert b["kenmerken"] == [{"kenmerk": "658721123", "bron": "BeschikkingNummer"}]
    assert b["initiator"] == {"soort": "natuurlijkPersoon", "identificatie": "inp.bsn=*******82",
                              "extraElementen": {"emailadres": "*" * len("catricum@email.nl")}}  # masked
    assert [(s["statustype"], s["datumStatusGezet"]) for s in b["statussen"]] == [
        ("Levering gestart", "20160310000000000"), ("Levering gestopt", "20161002000000000"),
        ("Afgehandeld", "20161002000000001")]
    assert b["resultaat"] == {"omschrijving": "Levering gestopt (RedenBeeindiging 02)"}
    assert len(b["berichten"]) == 5  # creeerZaak, status, updateZaak (einde), two statuses
    # CasusA: the 315's aanvraagzaak and the toewijzing's zaak, which the intrekking of 2016-11-08 ends
    a = next(z for key, z in zaken.items() if key.startswith("0384B425386123-"))
    assert (a["einddatum"], [s["statustype"] for s in a["statussen"]]) == ("20161107", ["Afgehandeld"])
    assert a["heeftBetrekkingOpAndere"] and a["heeftBetrekkingOpAndere"][0] in zaken
    aanvraag = zaken[a["heeftBetrekkingOpAndere"][0]]  # the 315's, answered by the 301 of 2016-02-20 and closed
    assert (aanvraag["zaaktype"], aanvraag["einddatum"], [s["statustype"] for s in aanvraag["statussen"]]) == (
        "WMOAANV", "20160220", ["Afgehandeld"])
    assert aanvraag["resultaat"] == {"omschrijving": f"Toegewezen (zaak {a['identificatie']})"}
    entries = Journal(folder).entries()
    assert len(entries) == 11 and all(e.accepted for e in entries)
    assert len(receiver) == 3
    # a restart brings back exactly these zaken from the journal
    again = Receiver()
    assert Journal(folder).replay(again) == 11
    assert again.snapshot() == zaken


def _creeer(url: str) -> None:
    created = post(url, lk01("T", creeer_object(), "ref-1", "20260102100000000"), CREEER)
    assert created.status_code == 200 and b"<StUF:berichtcode>Bv03</StUF:berichtcode>" in created.content


SECOND_ZAAKTYPE = update_objects(
    '<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T" xsi:nil="true" StUF:noValue="geenWaarde"/>',
    """<ZKN:isVan StUF:entiteittype="ZAKZKT" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde StUF:entiteittype="ZKT" StUF:verwerkingssoort="I">
        <ZKN:omschrijving>Andere</ZKN:omschrijving><ZKN:code>WMOANDER</ZKN:code>
        <ZKN:ingangsdatumObject>20150101</ZKN:ingangsdatumObject>
      </ZKN:gerelateerde></ZKN:isVan>""", vs="I", sleutel="zaak-1")  # one isVan a ZAK: no kerngegevens beside it
SECOND_INITIATOR = update_objects(
    '<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T" xsi:nil="true" '
    'StUF:noValue="geenWaarde"/>',
    """<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">
        <BG:inp.bsn>999990019</BG:inp.bsn></ZKN:natuurlijkPersoon></ZKN:gerelateerde></ZKN:heeftAlsInitiator>""",
    vs="I")

REFUSALS = {
    "oud-mismatch": (lk01("W", update_objects(W_OUD.replace("01A01</ZKN:omschrijving>", "99Z99</ZKN:omschrijving>"),
                                              W_NIEUW), "ref-2", "20260102100000001"), UPDATE, "StUF058"),
    "second-zaaktype": (lk01("W", SECOND_ZAAKTYPE, "ref-2", "20260102100000001"), UPDATE, "StUF058"),
    "second-initiator": (lk01("W", SECOND_INITIATOR, "ref-2", "20260102100000001"), UPDATE, "StUF058"),
    "tijdstipBericht": (gestart("ref-2", "20260102100000000"), STATUS, "StUF019"),
    "referentienummer-reused": (gestart("ref-1", "20260110000000000"), STATUS, "StUF016"),
    "unknown-zaak": (lk01("W", update_objects(W_OUD, W_NIEUW, identificatie="0384ONBEKEND"), "ref-2",
                          "20260102100000001"), UPDATE, "StUF064"),
}


@pytest.mark.parametrize("rule", sorted(REFUSALS))
def test_each_refusal_kind_is_a_fo03_naming_the_rule_and_changes_nothing(
        rule: str, testbed: tuple[ServerThread, Receiver, Path]) -> None:
    tb, receiver, folder = testbed
    _creeer(tb.url)
    before = receiver.snapshot()
    message, action, code = REFUSALS[rule]
    answer = post(tb.url, message, action)
    assert answer.status_code == 500 and answer.headers["x-testbed-rule"] == rule
    assert b"<soap:Fault>" in answer.content and b"<StUF:berichtcode>Fo03</StUF:berichtcode>" in answer.content
    assert f"<StUF:code>{code}</StUF:code>".encode() in answer.content
    assert f"<StUF:details>rule {rule}; element ".encode() in answer.content
    assert receiver.snapshot() == before
    assert [(e.accepted, e.rule) for e in Journal(folder).entries()] == [(False, rule), (True, None)]


def test_a_resend_accepted_after_its_fo03_comes_back_after_a_restart(
        testbed: tuple[ServerThread, Receiver, Path]) -> None:
    """A refused message offered again once its cause is gone is accepted (StUF 03.01 §4.4.3) though its
    tijdstipBericht is older than a message accepted in between; the journal's replay must take it again too."""
    tb, receiver, folder = testbed
    status = gestart("ref-1", "20260110000000000")
    assert post(tb.url, status, STATUS).headers["x-testbed-rule"] == "unknown-zaak"
    assert post(tb.url, lk01("T", creeer_object(), "ref-2", "20260111000000000"), CREEER).status_code == 200
    assert post(tb.url, status, STATUS).status_code == 200
    assert [(e.accepted, e.rule) for e in Journal(folder).entries()] == [
        (True, None), (True, None), (False, "unknown-zaak")]
    again = Receiver()
    assert Journal(folder).replay(again) == 2
    assert again.snapshot() == receiver.snapshot()


def test_the_zaken_pages_in_a_real_browser_show_the_zaak_and_no_bsn(
        tmp_path: Path, testbed: tuple[ServerThread, Receiver, Path]) -> None:
    sync_playwright = browser_entry()
    tb, _receiver, _folder = testbed
    _creeer(tb.url)
    assert post(tb.url, gestart("ref-2", "20260110000000000"), STATUS).status_code == 200
    shot = tmp_path / "testbed-zaak.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(tb.url + "/zaken")
            assert page.title() == "Testbed — zaken"
            row = page.locator("table").first.locator("tr").nth(1)
            assert row.locator("td").nth(0).inner_text() == ZAAK
            assert row.locator("td").nth(6).inner_text() == "Levering gestart"
            assert CLIENT_BSN not in page.content() and "*******" in page.content()
            page.locator("a", has_text=ZAAK).first.click()
            page.wait_for_url(f"**/zaken/{ZAAK}")
            assert page.locator("h1").inner_text() == f"Zaak {ZAAK}"
            assert "Levering gestart" in page.locator("table").nth(1).inner_text()
            assert CLIENT_BSN not in page.content()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    headers = httpx.get(tb.url + "/zaken").headers
    assert headers["content-security-policy"].startswith("default-src 'none'")


def test_the_command_keeps_its_zaken_across_a_restart(tmp_path: Path, reference_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from gateway.cli import main; main()", "testbed", "--port", str(port),
               "--data-dir", str(tmp_path / "tb")]
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    for round_ in (1, 2):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert wait_for(up, timeout=30), proc.stderr.read().decode() if proc.poll() is not None else "no answer"
            if round_ == 1:
                _creeer(url)
            assert httpx.get(url + "/healthz").json() == {"status": "ok", "zaken": 1, "ggk_envelopes": 0}
            assert httpx.get(url + f"/api/zaken/{ZAAK}").json()["startdatum"] == "20260101"
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after its graceful shutdown
            proc.stderr.close()


def test_make_run_shows_a_posted_toewijzing_as_a_zaak_in_a_real_browser(tmp_path: Path, reference_dir: Path) -> None:
    """The README's promise, literally: `make run`, post CasusA-02, see the zaak at the testbed's /zaken."""
    sync_playwright = browser_entry()
    samples_dir()
    root = Path(__file__).resolve().parents[1]
    port, testbed_port = free_port(), free_port()
    make = subprocess.Popen(["make", "--no-print-directory", "run", f"PORT={port}", f"TESTBED_PORT={testbed_port}",
                             f"DATA={tmp_path / 'data'}"], cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    shot = tmp_path / "make-run-zaken.png"
    try:
        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(ready, timeout=90), "make run did not come up"
        posted = httpx.post(f"http://127.0.0.1:{port}/soap", content=sample(A02), timeout=30)
        assert posted.status_code == 200 and b"Bv03Bericht" in posted.content
        zaken = f"http://127.0.0.1:{testbed_port}/zaken"
        assert wait_for(lambda: b"0384B425386123-" in httpx.get(zaken, timeout=5).content, timeout=30)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(zaken)
                assert page.locator("h1").inner_text() == "Zaken in the testbed (1)"
                row = page.locator("table").first.locator("tr").nth(1).locator("td")
                # CasusA-02: Beschikkingnummer 425386123, product 07A03, toegewezen from 2016-02-15
                assert row.nth(0).inner_text().startswith("0384B425386123-")
                assert (row.nth(1).inner_text(), row.nth(2).inner_text(), row.nth(3).inner_text()) == (
                    "WMOTOEW", "Wmo toewijzing 07A03", "20160215")
                assert "123456782" not in page.content()
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(60)
    assert shot.stat().st_size > 10_000
    assert wait_for(lambda: not _listening(port) and not _listening(testbed_port), timeout=30)


def _listening(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
        return True
    except httpx.HTTPError:
        return False


DI02 = """<ZKN:genereerZaakIdentificatie_Di02 xmlns:ZKN="http://www.egem.nl/StUF/sector/zkn/0310"
  xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><ZKN:stuurgegevens><StUF:berichtcode>Di02</StUF:berichtcode>
  <StUF:zender><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie></StUF:zender>
  <StUF:ontvanger><StUF:applicatie>ZAAKSYSTEEM</StUF:applicatie></StUF:ontvanger>
  <StUF:referentienummer>{ref}</StUF:referentienummer><StUF:tijdstipBericht>20261204120000000</StUF:tijdstipBericht>
  <StUF:functie>{functie}</StUF:functie></ZKN:stuurgegevens></ZKN:genereerZaakIdentificatie_Di02>"""
GZI = "http://www.egem.nl/StUF/sector/zkn/0310/genereerZaakIdentificatie_Di02"


def test_genereer_zaak_identificatie_issues_each_number_once_even_across_a_restart(tmp_path: Path,
                                                                                   reference_dir: Path) -> None:
    from lxml import etree

    from gateway.reference import load_zs_dms_schema

    schema = load_zs_dms_schema()
    assert schema is not None
    issued = []
    for round_ in (1, 2):
        journal = Journal(tmp_path / "tb")
        with ServerThread(create_app(Receiver(), journal)) as tb:
            for n in (1, 2):
                answer = post(tb.url, DI02.format(ref=f"gzi-{round_}-{n}", functie="genereerZaakidentificatie")
                              .encode(), GZI)
                assert answer.status_code == 200, answer.text
                du02 = etree.fromstring(answer.content)[0][0]
                assert schema.validate(etree.ElementTree(du02)), schema.error_log  # the official zs-dms schema
                assert du02.findtext(".//{*}crossRefnummer") == f"gzi-{round_}-{n}"
                assert du02.findtext(".//{*}ontvanger/{*}organisatie") == "0384"
                issued.append(du02.findtext("{*}zaak/{*}identificatie"))
        journal.close()
    assert issued == ["0384TB0000000001", "0384TB0000000002", "0384TB0000000003", "0384TB0000000004"]


def test_a_di02_that_is_not_one_is_answered_with_a_fo02(testbed: tuple[ServerThread, Receiver, Path]) -> None:
    tb, _receiver, _folder = testbed
    wrong = post(tb.url, DI02.format(ref="gzi-x", functie="geefZaakdocumentbewerken").encode(), GZI)
    assert wrong.status_code == 500
    assert b"<StUF:berichtcode>Fo02</StUF:berichtcode>" in wrong.content and b"<StUF:code>StUF055" in wrong.content


FIXTURES = Path(__file__).resolve().parent / "fixtures" / "iwmo21"


def _ggk_pair() -> tuple[bytes, bytes]:
    """A Di01 for CasusB-01's 301 and the Du01 of its 302 retour, converted with one ledger (profile ggk)."""
    from gateway.pipeline import Converter

    converter = Converter(profile="ggk")
    (di01,) = converter.convert((FIXTURES / "CasusB-01-WMO301_toewijzing.xml").read_bytes()).outputs
    (du01,) = converter.convert((FIXTURES / "families" / "CasusB-01-WMO302_retour_afgekeurd.xml")
                                .read_bytes()).outputs
    return di01.xml, du01.xml


def test_ggk_envelopes_a_di01_and_the_du01_that_answers_it(testbed: tuple[ServerThread, Receiver, Path]) -> None:
    tb, _receiver, folder = testbed
    di01, du01 = _ggk_pair()
    for envelope in (di01, du01):
        answer = post(tb.url, envelope)
        assert answer.status_code == 200 and b"Bv03Bericht" in answer.content, answer.text
    listed = httpx.get(tb.url + "/api/ggk").json()
    assert [(e["berichtcode"], e["zender"], e["ontvanger"]) for e in listed] == [
        ("Di01", "0384", "98026987"), ("Du01", "98026987", "0384")]  # the 301 from gemeente 0384 to AGB 98026987
    assert listed[1]["crossRefnummer"] == listed[0]["referentienummer"]
    again, intake = Receiver(), GgkIntake()
    assert Journal(folder).replay(again, intake) == 2 and intake.snapshot() == listed  # a restart keeps them


def test_a_du01_for_no_di01_or_the_wrong_way_round_is_refused(testbed: tuple[ServerThread, Receiver, Path]) -> None:
    tb, _receiver, _folder = testbed
    di01, du01 = _ggk_pair()
    alone = post(tb.url, du01)
    assert alone.status_code == 500 and alone.headers["x-testbed-rule"] == "crossref-unknown"
    assert post(tb.url, di01).status_code == 200
    org = "<StUF:organisatie>{}</StUF:organisatie>".format
    turned = du01.replace(org("98026987").encode(), org("X").encode()).replace(org("0384").encode(),
                                                                               org("98026987").encode())
    turned = turned.replace(org("X").encode(), org("0384").encode())  # zender and ontvanger swapped
    wrong_way = post(tb.url, turned)
    assert wrong_way.status_code == 500 and wrong_way.headers["x-testbed-rule"] == "du01-direction", wrong_way.text
    assert post(tb.url, du01).status_code == 200
