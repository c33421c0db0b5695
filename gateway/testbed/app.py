"""The testbed's HTTP face: SOAP in at ``/soap``, the zaken it holds at ``/zaken`` (HTML) and ``/api/zaken``,
the GGk envelopes it received at ``/api/ggk``.

Answers follow StUF 03.01 as a zaaksysteem would give them: a ``Bv03Bericht`` in a SOAP Body (HTTP 200)
when the kennisgeving was applied, a ``Fo03Bericht`` in a SOAP Fault (HTTP 500) naming the fout code, the
rule and the element when it was refused. Nothing a client sent is echoed beyond its references; the zaak
views mask BSNs and contact data as the receiver's snapshots do.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.receiver import Answer, Receiver
from gateway.render import stuf

from .ggk import GgkIntake, is_ggk
from .identificatie import Refused, du02, is_di02, read_di02
from .journal import Journal
from .page import zaak_page, zaken_page

TESTBED = stuf.Party("OVERSTAP-TESTBED", "TESTBED")
"""Who answers: the Bv03/Fo03 zender (applicatie is required, 3..50 characters)."""
MAX_BODY = 10 * 1024 * 1024
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _reply(answer: Answer) -> Response:
    zender = answer.zender
    ontvanger = stuf.Party(zender.applicatie or "onbekend", zender.organisatie or None,
                           zender.administratie or None) if zender else stuf.Party("onbekend")
    cross_ref = answer.referentienummer or stuf.UNKNOWN_REF
    if answer.accepted:
        return Response(stuf.envelope(stuf.bv03(TESTBED, ontvanger, cross_ref)), 200,
                        media_type=stuf.CONTENT_TYPE["soap11"])
    fout = answer.fout
    assert fout is not None
    body = stuf.Fout(fout.code, "server" if fout.plek == "server" else "client", fout.omschrijving, fout.details)
    fo = stuf.fo03(TESTBED, ontvanger, cross_ref, body)
    return Response(stuf.fault(fo, body), 500, media_type=stuf.CONTENT_TYPE["soap11"],
                    headers={"X-Testbed-Rule": fout.rule})


def _identificatie(body: bytes, issue: Callable[[str], str]) -> Response:
    """ZDS genereerZaakIdentificatie: a Du02 with a new identificatie, or a Fo02 saying what was wrong."""
    try:
        request = read_di02(body)
    except Refused as exc:
        fo = stuf.fo03(TESTBED, stuf.Party("onbekend"), stuf.UNKNOWN_REF, exc.fout, berichtcode="Fo02")
        return Response(stuf.fault(fo, exc.fout), 500, media_type=stuf.CONTENT_TYPE["soap11"])
    answer = du02(request, issue(request.gemeentecode), TESTBED)
    return Response(stuf.envelope(answer), 200, media_type=stuf.CONTENT_TYPE["soap11"])


def create_app(receiver: Receiver, journal: Journal | None = None, ggk: GgkIntake | None = None) -> FastAPI:
    """The testbed over ``receiver`` and ``ggk`` (already holding what ``journal`` replayed into them)."""
    ggk = ggk if ggk is not None else GgkIntake(validate=receiver.validate)
    app = FastAPI(title="Overstap testbed", docs_url=None, redoc_url=None, openapi_url=None)
    lock = asyncio.Lock()  # one kennisgeving at a time: the receiver's order is the order of the answers
    counter = itertools.count(1)
    issue = journal.issue if journal else (lambda gemeente: f"{gemeente}TB{next(counter):010d}")

    @app.post("/soap")
    async def soap(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response(b"message larger than 10 MiB", 413, media_type="text/plain")
        action = request.headers.get("soapaction")
        if is_di02(bytes(body)):
            return await asyncio.to_thread(_identificatie, bytes(body), issue)
        apply = ggk.receive if is_ggk(bytes(body)) else (lambda data: receiver.receive(data, action))
        async with lock:
            answer = await asyncio.to_thread(apply, bytes(body))
            if journal is not None:
                await asyncio.to_thread(journal.record, bytes(body), action, answer)
        return _reply(answer)

    @app.get("/api/zaken")
    async def api_zaken() -> JSONResponse:
        return JSONResponse(receiver.snapshot())

    @app.get("/api/zaken/{identificatie}")
    async def api_zaak(identificatie: str) -> JSONResponse:
        found = receiver.zaak(identificatie)
        if found is None:
            return JSONResponse({"error": "no zaak with this identificatie"}, 404)
        return JSONResponse(found)

    @app.get("/zaken", response_class=HTMLResponse)
    async def zaken() -> HTMLResponse:
        return HTMLResponse(zaken_page(receiver.snapshot(), journal.entries() if journal else []),
                            headers=SECURITY_HEADERS)

    @app.get("/zaken/{identificatie}", response_class=HTMLResponse)
    async def zaak(identificatie: str) -> HTMLResponse:
        found = receiver.zaak(identificatie)
        if found is None:
            return HTMLResponse("<!doctype html><title>Not found</title><p>No zaak with this identificatie.</p>",
                                404, headers=SECURITY_HEADERS)
        entries = journal.entries(identificatie) if journal else []
        return HTMLResponse(zaak_page(found, entries), headers=SECURITY_HEADERS)

    @app.get("/api/ggk")
    async def api_ggk() -> JSONResponse:
        return JSONResponse(ggk.snapshot())

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "zaken": len(receiver), "ggk_envelopes": len(ggk)})

    return app
