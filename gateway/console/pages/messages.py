"""The message list with its filters, one message's page, and the two actions on it: replaying a dead letter and
converting a quarantined message again.

The actions share one confirmation step (GET shows, a POST with the session's CSRF token and ``confirm=yes``
runs), so an operator never replays by following a link.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from gateway.deliver import shadow, superseded
from gateway.deliver.unmapped import UnmappedInput

from .. import params, queries
from ..auth import Session
from ..context import Console
from ..display import berichtcode, lineage, marked_payloads, pretty
from .reconvert import plan


async def messages(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    q = request.query_params
    statuses = (*queries.MESSAGE_STATUSES, *queries.DELIVERY_STATUSES)
    try:
        f = queries.Filter(status=params.choice(q.get("status"), "status", statuses),
                           route=q.get("route") or None, day_from=params.day(q.get("from"), "from"),
                           day_to=params.day(q.get("to"), "to"), before=params.row_id(q.get("before"), "before"),
                           unmapped=q.get("unmapped") == "1")
    except params.BadParameter as e:
        return console.page(request, "error.html", session, 400, why=str(e))
    rows, cursor = await console.read(queries.list_messages, f, console.settings.page_size)
    route_names = await console.read(queries.routes)
    next_url = "?" + urlencode(f.query(before=cursor)) if cursor else None
    first_url = "?" + urlencode(f.query(before=None)) if f.before else None
    bulk = f.status == "dead" and session.operator and console.backend.reconvert is not None  # re-convert selected
    return console.page(request, "messages.html", session, rows=rows, f=f, routes=route_names, next_url=next_url,
                        first_url=first_url, statuses=statuses, bulk=bulk)


async def message_page(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    read, backend = console.read, console.backend
    message_id = int(request.path_params["id"])
    found = await read(queries.message, message_id)
    if found is None:
        return console.page(request, "error.html", session, 404, why=f"no message {message_id}")
    items = await read(queries.deliveries, message_id)
    keys = {}
    for item in items:
        if item["zaak"] and item["zaak"] not in keys:
            keys[item["zaak"]] = await read(queries.zaak_key, item["zaak"])
    rows, lineage_error = None, None
    if backend.explain is not None and found["mapping"]:
        try:
            rows = lineage(await asyncio.to_thread(backend.explain, bytes(found["original"]), found["mapping"],
                                                   found["route"]))
        except Exception as e:  # a message that does not convert (any more): say why, show the rest
            lineage_error = f"{type(e).__name__}: {str(e)[:300]}"
    compared = await read(shadow.line_of, found) if found["mode"] == "shadow" and found["status"] == "accepted" \
        else None
    original, payloads = await asyncio.to_thread(
        lambda: (pretty(found["original"]), {d["id"]: pretty(d["payload"]) for d in items}))
    marked_source, marked = await asyncio.to_thread(marked_payloads, found, items, rows)
    offer = None  # re-convert: for an operator, on an accepted message with a dead letter; the gateway's checks plan it
    if session.operator and backend.reconvert is not None and found["status"] == "accepted" \
            and any(d["status"] == "dead" for d in items):
        offer = await read(plan, [message_id])
    await console.record(session.user, "view_payload", message_id=message_id)
    return console.page(request, "message.html", session, m=found, deliveries=items, zaak_keys=keys, lineage=rows,
                        shadow=compared, unmapped=UnmappedInput.decode(found.get("unmapped")),
                        lineage_error=lineage_error, can_retry=backend.replay_quarantined is not None,
                        original=original, payloads=payloads, marked_source=marked_source, marked=marked,
                        code=berichtcode(found["original"][:4000]), replaced_by=superseded.replacing(found["status"]),
                        offer=offer)


async def confirmed(console: Console, request: Request, session: Session, template: str,
                    run: Callable[[], Awaitable[Sequence[Any]]], action: str, ids: dict[str, int],
                    refresh: Callable[[], Awaitable[dict[str, Any]]] | None = None, **context: Any) -> Response:
    """An action with a confirmation step: GET shows what will happen; a POST with the session's CSRF token
    and ``confirm=yes`` runs it (the gateway's replay), writes the audit line and shows the gateway's note.
    ``refresh`` reads the facts again after the action, so the result page does not show the state before it."""
    if request.method == "GET":
        return console.page(request, template, session, result=None, **context)
    data = await console.checked_form(request, session)
    if data is None:
        return console.forbidden(request, session, "missing or wrong CSRF token")
    if data.get("confirm") != "yes":
        return console.page(request, template, session, 400, result=None, **context)
    results = await run()
    result = results[0] if results else None
    unaudited = await console.record_done(session.user, action, **ids, ok=bool(result and result.ok))
    if refresh is not None:
        context.update(await refresh())
    return console.page(request, template, session, result=result, audit_failed=unaudited, **context)


async def replay(console: Console, request: Request) -> Response:
    """Send a dead letter again as stored: the path of ``/admin/replay``."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if not session.operator:
        return console.forbidden(request, session, "replay needs the operator role")
    delivery_id = int(request.path_params["id"])
    item = await console.read(queries.delivery, delivery_id)
    if item is None:
        return console.page(request, "error.html", session, 404, why=f"no delivery {delivery_id}")
    if item["status"] != "dead" and request.method == "POST":  # a second click, or a delivery that went fine
        return console.page(request, "error.html", session, 409, why=f"delivery {delivery_id} is "
                            f"{item['status']}: only a dead letter is replayed here")

    async def now() -> dict[str, Any]:
        return {"d": await console.read(queries.delivery, delivery_id) or item}

    return await confirmed(console, request, session, "replay.html", lambda: console.backend.replay([delivery_id]),
                           "replay", {"delivery_id": delivery_id, "message_id": item["message_id"]}, refresh=now,
                           d=item)


async def retry_quarantined(console: Console, request: Request) -> Response:
    """Convert a quarantined message again (after a mapping fix): ``/admin/replay`` with quarantined."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    convert = console.backend.replay_quarantined
    if not session.operator or convert is None:
        return console.forbidden(request, session, "converting again needs the operator role")
    message_id = int(request.path_params["id"])
    found = await console.read(queries.message, message_id)
    if found is None or found["status"] != "quarantined":
        return console.page(request, "error.html", session, 404, why=f"no quarantined message {message_id}")
    return await confirmed(console, request, session, "retry.html", lambda: convert([message_id]),
                           "retry_quarantined", {"message_id": message_id}, m=found)
