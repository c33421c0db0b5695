"""``overstap compliance --target`` against receivers that answer wrongly in ways a loose reading passed (session 21).

Why: the run is what a municipality relies on before go-live. Each receiver here is the testbed behind a small
FastAPI server on 127.0.0.1 that spoils its answers one way — a Bv03 about another message, the wrong SOAP
version, a Bv03 with HTTP 500, an answer that never comes, a state URL answering garbage — and each must fail
the run (exit 1) saying why, never pass it and never end it with a traceback.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI, Request, Response
from proxy_helpers import ServerThread, samples_dir

from gateway.cli import main
from gateway.receiver import Receiver as ZaakReceiver
from gateway.testbed import Journal, create_app

CHAIN = "wmo-toewijzing-start-stop"
START = "creeerZaak from CasusB-01-WMO301_toewijzing.xml"


def spoiled(upstream: str, mode: str) -> FastAPI:
    """The testbed's answers, spoiled after ``mode``."""
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def forward(path: str, request: Request) -> Response:
        body = await request.body()
        async with httpx.AsyncClient(timeout=30) as client:
            got = await client.request(request.method, f"{upstream}/{path}", content=body, headers={
                k: v for k, v in request.headers.items() if k.lower() in ("content-type", "soapaction")})
        text, status = got.content, got.status_code
        if request.method == "GET":
            return Response(b"[1, 2]" if mode == "state-list" else b"not json" if mode == "state-junk" else text,
                            status_code=status, media_type="application/json")
        if mode == "other-crossref":
            text = re.sub(rb"<StUF:crossRefnummer>[^<]*<", b"<StUF:crossRefnummer>not-yours<", text)
        elif mode == "no-crossref":
            text = re.sub(rb"<StUF:crossRefnummer>[^<]*</StUF:crossRefnummer>", b"", text)
        elif mode == "soap12":
            text = text.replace(b"http://schemas.xmlsoap.org/soap/envelope/", b"http://www.w3.org/2003/05/soap-envelope")
        elif mode == "bv03-500":
            status = 500
        elif mode == "bsn-in-code":
            text = text.replace(b"<StUF:code>StUF064</StUF:code>", b"<StUF:code>BSN 123456782 onbekend</StUF:code>")
        elif mode == "doctype":  # before the root, after the XML declaration if there is one
            at = text.index(b"?>") + 2 if text.startswith(b"<?xml") else 0
            text = text[:at] + b'<!DOCTYPE Envelope [<!ENTITY zaak "0384">]>' + text[at:]
        elif mode == "junk":
            text = b"<html><body>Service Unavailable</body>"
        elif mode == "hang":
            await asyncio.sleep(2)
        return Response(text, status_code=status, media_type="text/xml")

    return app


def run_against(tmp_path: Path, mode: str, *args: str) -> tuple[int, list[str]]:
    samples_dir()
    journal = Journal(tmp_path / "tb")
    try:
        with ServerThread(create_app(ZaakReceiver(), journal)) as tb, ServerThread(spoiled(tb.url, mode)) as bad:
            result = CliRunner().invoke(main, ["compliance", "--target", bad.url + "/soap", "--out",
                                               str(tmp_path / "out"), *args])
    finally:
        journal.close()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output.splitlines()


@pytest.mark.parametrize(("mode", "answered"), [
    ("other-crossref", "Bv03 with a crossRefnummer naming another message (expected the referentienummer sent)"),
    ("no-crossref", "Bv03 without a crossRefnummer (expected the referentienummer sent)"),
    ("soap12", "HTTP 200, a SOAP 1.2 envelope (the request was SOAP 1.1)"),
    ("bv03-500", "Bv03 with HTTP 500 (a sender reads a failure)"),
])
def test_a_bv03_a_sender_could_not_rely_on_fails_the_run(tmp_path: Path, reference_dir: Path, mode: str,
                                                         answered: str) -> None:
    code, lines = run_against(tmp_path, mode, "--only", CHAIN)
    assert code == 1
    assert lines[0].startswith(f"FAIL {CHAIN}: {START}: answered {answered}, expected Bv03; ")
    assert lines[1].startswith("0 of 1 scenarios passed")


@pytest.mark.parametrize(("mode", "answered"), [
    ("doctype", "HTTP 200, XML with a DOCTYPE, which SOAP forbids (SOAP 1.1 §3: a SOAP message must not contain a "
                "Document Type Declaration)"),
    ("junk", "HTTP 200, not XML"),
])
def test_an_answer_with_a_doctype_is_named_as_such_not_as_no_xml(tmp_path: Path, reference_dir: Path, mode: str,
                                                                  answered: str) -> None:
    """The testbed's Bv03 with a DOCTYPE (an internal subset declaring an entity) put before its Envelope: well-formed
    XML, refused unparsed as every DOCTYPE is; the verdict said "not XML", as for an HTML page cut off."""
    code, lines = run_against(tmp_path, mode, "--only", CHAIN)
    assert code == 1
    assert lines[0].startswith(f"FAIL {CHAIN}: {START}: answered {answered}, expected Bv03; "), lines
    assert answered.split(" (")[0] in (tmp_path / "out" / "junit.xml").read_text(encoding="utf-8")


def test_a_fo03_about_another_message_is_no_refusal_of_this_one(tmp_path: Path, reference_dir: Path) -> None:
    code, lines = run_against(tmp_path, "other-crossref", "--only", "refuse-status-on-unknown-zaak")
    assert (code, lines[0]) == (1, "FAIL refuse-status-on-unknown-zaak: actualiseerZaakstatus from "
                                   "CasusB-02-WMO305_start.xml: answered Fo03 with a crossRefnummer naming another "
                                   "message (expected the referentienummer sent) StUF064, expected Fo03")


def test_a_receiver_that_does_not_answer_fails_within_the_timeout_and_stops_the_chain(tmp_path: Path,
                                                                                     reference_dir: Path) -> None:
    code, lines = run_against(tmp_path, "hang", "--only", "refuse-reused-referentienummer", "--timeout", "0.5")
    assert code == 1
    assert lines[0] == ("FAIL refuse-reused-referentienummer: creeerZaak from CasusB-01-WMO301_toewijzing.xml: "
                        "answered nothing within 0.5s, expected Bv03; 1 later message(s) not sent: the receiver "
                        "did not answer the one before")


@pytest.mark.parametrize("mode", ["state-junk", "state-list"])
def test_a_state_url_answering_no_zaak_fails_the_scenario_without_a_traceback(tmp_path: Path, reference_dir: Path,
                                                                              mode: str) -> None:
    code, lines = run_against(tmp_path, mode, "--only", CHAIN)
    assert code == 1
    assert re.fullmatch(rf"FAIL {CHAIN}: the state URL answered HTTP 200 for zaak 0384\w+, not a zaak as JSON "
                        r"\(an object with identificatie, kenmerken and statussen lists\)", lines[0]), lines


def test_the_untouched_testbed_still_passes_through_the_same_forwarder(tmp_path: Path, reference_dir: Path) -> None:
    code, lines = run_against(tmp_path, "none", "--only", CHAIN, "--only", "refuse-status-on-unknown-zaak")
    assert (code, lines[:2]) == (0, [f"PASS {CHAIN}", "PASS refuse-status-on-unknown-zaak"])


def test_a_bsn_the_receiver_puts_in_its_fout_code_is_masked_in_every_report(tmp_path: Path,
                                                                            reference_dir: Path) -> None:
    code, lines = run_against(tmp_path, "bsn-in-code", "--only", "refuse-status-on-unknown-zaak")
    assert (code, lines[0]) == (1, "FAIL refuse-status-on-unknown-zaak: actualiseerZaakstatus from "
                                   "CasusB-02-WMO305_start.xml: refused with BSN *******82 onbekend, but StUF names "
                                   "StUF064 for this refusal")
    for report in ("compliance.html", "junit.xml"):
        assert "123456782" not in (tmp_path / "out" / report).read_text(encoding="utf-8")
