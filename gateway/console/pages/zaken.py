"""A zaak's timeline from the ledger, and finding a client's zaken by BSN.

Together because both show ledger state by client; the BSN travels only in a POST body, never in an address,
and is shown masked.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from .. import queries
from ..context import Console
from ..display import berichtcode
from ..privacy import mask, valid_bsn


async def zaak_page(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    found = await console.read(queries.zaak, int(request.path_params["key"]))
    if found is None:
        return console.page(request, "error.html", session, 404, why="no such zaak in the ledger")
    state = json.loads(found["state"])
    events = await console.read(queries.timeline, found["zaak"])
    for e in events:
        e["code"] = berichtcode(e.pop("head"))
    await console.record(session.user, "view_zaak", zaak_key=found["key"])
    return console.page(request, "zaak.html", session, z=found, state=state, events=events,
                        bsn=(state.get("initiator") or {}).get("bsn"))


async def clients(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if request.method == "GET":
        return console.page(request, "clients.html", session, results=None, error=None)
    data = await console.checked_form(request, session)
    if data is None:
        return console.forbidden(request, session, "missing or wrong CSRF token")
    bsn = "".join(data.get("bsn", "").split())
    if not valid_bsn(bsn):
        return console.page(request, "clients.html", session, 400, results=None, error="not a valid BSN (9 digits, "
                            "elfproef)")
    results = await console.read(queries.zaken_of_client, bsn)
    await console.record(session.user, "client_search", results=len(results))
    return console.page(request, "clients.html", session, results=results, error=None, searched=mask(bsn))
