"""The testbed's HTTP face: SOAP in at ``/soap``, the zaken it holds at ``/zaken`` (HTML) and ``/api/zaken``,
the GGk envelopes it received at ``/api/ggk``.

Answers follow StUF 03.01 as a zaaksysteem would give them: a ``Bv03Bericht`` in a SOAP Body (HTTP 200)
when the kennisgeving was applied, a ``Fo03Bericht`` in a SOAP Fault (HTTP 500) naming the fout code, the
rule and the element when it was refused. Nothing a client sent is echoed beyond its references; the zaak
views mask BSNs and contact data as the receiver's snapshots do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.httpguard.bodies import Body, BodyBudget, Holding, read_body
from gateway.httpguard.limits import HttpLimits
from gateway.httpguard.protocol import SlowBody, header
from gateway.receiver import Answer, Receiver
from gateway.receiver.message import ZKN_SCHEMA
from gateway.reference import load_schema, load_zs_dms_schema
from gateway.render import stuf

from .ggk import GgkIntake, is_ggk
from .identificatie import Refused, du02, is_di02, read_di02
from .journal import Journal
from .limits import Limits
from .page import zaak_page, zaken_page
from .soap import Heard, hear

TESTBED = stuf.Party("OVERSTAP-TESTBED", "TESTBED")
"""Who answers when the message names no ontvanger: the Bv03/Fo03 zender (applicatie is required, 3..50
characters)."""
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _parties(answer: Answer | None, heard: Heard) -> tuple[stuf.Party, stuf.Party]:
    """(zender, ontvanger) of a Bv03/Fo03: the message's ontvanger and zender, every part (:mod:`.soap`); where the
    message names none, the testbed and the zender the receiver read."""
    zender = answer.zender if answer is not None else None
    fallback = stuf.Party(zender.applicatie or "onbekend", zender.organisatie or None,
                          zender.administratie or None) if zender else stuf.Party("onbekend")
    return heard.ontvanger or TESTBED, heard.zender or fallback


def _fault(fout: stuf.Fout, heard: Heard, answer: Answer | None = None, status: int | None = None,
           headers: dict[str, str] | None = None) -> Response:
    """A Fo03 in a SOAP Fault of the request's version; HTTP status per :func:`stuf.http_status` unless given."""
    cross_ref = (answer.referentienummer if answer is not None else None) or heard.referentienummer
    fo = stuf.fo03(*_parties(answer, heard), cross_ref or stuf.UNKNOWN_REF, fout)
    return Response(stuf.fault(fo, fout, heard.version), status or stuf.http_status(fout, heard.version),
                    media_type=stuf.CONTENT_TYPE[heard.version], headers=headers)


def _reply(answer: Answer, heard: Heard) -> Response:
    if answer.accepted:
        cross_ref = answer.referentienummer or heard.referentienummer or stuf.UNKNOWN_REF
        return Response(stuf.envelope(stuf.bv03(*_parties(answer, heard), cross_ref), heard.version), 200,
                        media_type=stuf.CONTENT_TYPE[heard.version])
    fout = answer.fout
    assert fout is not None
    body = stuf.Fout(fout.code, "server" if fout.plek == "server" else "client", fout.omschrijving, fout.details)
    return _fault(body, heard, answer, headers={"X-Testbed-Rule": fout.rule})


def _refused_body(body: Body, heard: Heard, limits: Limits) -> Response:
    """The answer to a body not read whole, as the sidecar gives it (gateway/proxy/app.py ``_refused``)."""
    if body.refusal == "disconnected":  # the client left mid-body: nothing to answer, nothing kept
        return Response(status_code=400)
    if body.refusal == "oversize":  # StUF058 is plek server (Tabel 4.1), but as it is it never passes: soap:Client
        return _fault(stuf.Fout.of("StUF058", f"message larger than the limit of {limits.max_body_bytes} bytes",
                                   soap_side="client"), heard, status=413)
    if body.refusal == "busy":  # no room to hold it now: "Opslaan bericht niet mogelijk" (the Fo03 code to retry)
        return _fault(stuf.Fout.of("StUF046", "the testbed is receiving as many large messages as it can hold; "
                                   "offer it again later"), heard, status=503,
                      headers={"Retry-After": "5", "Connection": "close"})
    return _fault(stuf.Fout.of("StUF058", f"request body not complete within {limits.body_timeout:g}s"), heard,
                  status=408, headers={"Connection": "close"})  # the rest may still come: not a next request


def slow_body(http: HttpLimits) -> SlowBody:
    """The guard's answer to a POST /soap whose body came slower than ``http.min_body_rate``: a Fo03 StUF058 in a
    SOAP Fault of the request's version, 408, as the testbed answers a body that missed its deadline
    (:func:`_refused_body`); a client of the SOAP endpoint reads a SOAP Fault either way, not text/plain."""

    def answer(scope: dict[str, Any]) -> Response | None:
        if scope.get("method") != "POST" or scope.get("path") != "/soap":
            return None
        return _fault(stuf.Fout.of("StUF058", f"request body arrived at less than {http.min_body_rate} bytes a second"),
                      hear(b"", header(scope, b"content-type"), None, 0), status=408, headers={"Connection": "close"})

    return answer


def unknown_coding(scope: dict[str, Any], why: str) -> Response | None:
    """The guard's answer to a POST /soap whose Transfer-Encoding names a coding besides chunked: a Fo03 StUF055 in
    a SOAP Fault of the request's version, 501, as the sidecar answers it (gateway/proxy/app.py)."""
    if scope.get("method") != "POST" or scope.get("path") != "/soap":
        return None
    return _fault(stuf.Fout.of("StUF055", why), hear(b"", header(scope, b"content-type"), None, 0), status=501,
                  headers={"Connection": "close"})


def _must_understand(heard: Heard) -> Response:
    """SOAP 1.1 §4.2.3 / SOAP 1.2 Part 1 §5.4.8: a block it must understand and does not: fault, nothing applied.
    HTTP 500 in both versions (SOAP 1.2 Part 2 §7.5.1: env:MustUnderstand is 500)."""
    return Response(stuf.must_understand_fault(list(heard.not_understood), heard.version), 500,
                    media_type=stuf.CONTENT_TYPE[heard.version])


def _identificatie(body: bytes, issue: Callable[[str], str], heard: Heard) -> Response:
    """ZDS genereerZaakIdentificatie: a Du02 with a new identificatie, or a Fo02 saying what was wrong."""
    try:
        request = read_di02(body)
    except Refused as exc:  # StUF 03.01 §4.4.3: a Fo02's stuurgegevens hold only its berichtcode
        return Response(stuf.fault(stuf.fo02(exc.fout), exc.fout, heard.version),
                        stuf.http_status(exc.fout, heard.version), media_type=stuf.CONTENT_TYPE[heard.version])
    answer = du02(request, issue(request.gemeentecode), heard.ontvanger or TESTBED)
    return Response(stuf.envelope(answer, heard.version), 200, media_type=stuf.CONTENT_TYPE[heard.version])


def create_app(receiver: Receiver, journal: Journal | None = None, ggk: GgkIntake | None = None,
               limits: Limits | None = None) -> FastAPI:
    """The testbed over ``receiver`` and ``ggk`` (already holding what ``journal`` replayed into them), reading
    bodies within ``limits`` (:mod:`.limits`, read by :mod:`gateway.httpguard.bodies`)."""
    limits = limits or Limits()
    budget = BodyBudget(limits.max_body_buffer_bytes)
    # The schemas are compiled here, before the first request: compiled by request threads at once, the zs-dms one
    # (imports through its own resolver) once failed with XMLSchemaParseError under 40 parallel Di02s.
    load_zs_dms_schema()
    if receiver.validate:
        load_schema(ZKN_SCHEMA)
    ggk = ggk if ggk is not None else GgkIntake(validate=receiver.validate)
    app = FastAPI(title="Overstap testbed", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.body_budget = budget  # what bodies hold now: tests wait on it rather than on a pause
    lock = asyncio.Lock()  # one kennisgeving at a time: the receiver's order is the order of the answers
    counter = itertools.count(1)
    issue = journal.issue if journal else (lambda gemeente: f"{gemeente}TB{next(counter):010d}")

    async def body_share() -> AsyncIterator[Holding]:
        """A request's part of the body budget, held until its answer is decided (waiting for the lock counts)."""
        with Holding(budget) as holding:
            yield holding

    held = Depends(body_share)

    @app.post("/soap")
    async def soap(request: Request, holding: Holding = held) -> Response:
        read = await read_body(request, limits.max_body_bytes, holding, limits.body_timeout)
        content_type = request.headers.get("content-type")
        if read.refusal is not None:
            return _refused_body(read, hear(b"", content_type, None, 0), limits)
        heard = await asyncio.to_thread(hear, read.data, content_type, request.headers.get("soapaction"),
                                        limits.max_body_bytes)
        if heard.not_understood:
            return _must_understand(heard)
        body, action = read.data, heard.action
        if is_di02(bytes(body)):
            return await asyncio.to_thread(_identificatie, bytes(body), issue, heard)
        apply = ggk.receive if is_ggk(bytes(body)) else (lambda data: receiver.receive(data, action))
        async with lock:
            if journal is None:
                answer = await asyncio.to_thread(apply, bytes(body))
            else:  # write-ahead: what is not stored is not applied, and answered StUF046 (Journal.begin)
                try:
                    row = await asyncio.to_thread(journal.begin, bytes(body), action)
                except sqlite3.Error as exc:
                    answer = Journal.unstored(bytes(body), action, exc)
                else:
                    answer = await asyncio.to_thread(apply, bytes(body))
                    with contextlib.suppress(sqlite3.Error):  # the row stays pending, replayed as new (Journal.settle)
                        await asyncio.to_thread(journal.settle, row, bytes(body), answer)
        return _reply(answer, heard)

    _add_views(app, receiver, journal, ggk)
    return app


def _add_views(app: FastAPI, receiver: Receiver, journal: Journal | None, ggk: GgkIntake) -> None:
    """The read-only pages and JSON views of what the testbed holds (zaken, GGk envelopes, health)."""

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
