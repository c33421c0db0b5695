"""The console's routes: login, messages, one message (with replay), zaken, client search and health.

Pages are rendered on the server (Jinja2, autoescaped) with one CSS file and no JavaScript, so the
Content-Security-Policy can forbid every script. Reads run in a thread on a read-only connection; a replay
goes through the function the proxy hands in (the gateway's own replay, as ``/admin/replay`` uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from gateway.deliver import shadow

from . import purge, queries
from .auth import COOKIE, PRE_COOKIE, Session, Signer, check_login
from .display import berichtcode, lineage, marked_payloads, operation, pretty, when
from .privacy import AuditLog, mask, mask_text, valid_bsn
from .sessions import SessionStore
from .settings import ConsoleSettings

log = logging.getLogger("overstap.console")
HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COUNTERS = ("overstap_received_total", "overstap_acknowledged_total", "overstap_rejected_total",
            "overstap_delivered_total", "overstap_retried_total", "overstap_dead_lettered_total",
            "overstap_queue_depth")
"""The /metrics samples the health page lists as they are (dialect debt gets its own table)."""
SHADOW_WINDOW = 2000
"""The shadow page compares the newest this many shadow messages (one query per message, as the CLI report)."""
SHADOW_SHOWN = 50
Replay = Callable[[list[int]], Awaitable[Sequence[Any]]]


@dataclass(slots=True)
class Backend:
    """What the console needs from the running sidecar, handed in by the proxy (the console imports no shell)."""

    db_path: Path
    replay: Replay
    """The gateway's replay of delivery ids (``Gateway.replay``): results with ``id``, ``ok``, ``note``."""
    admin_key: str | None = None
    metrics: Callable[[], bytes] | None = None
    """The ``/metrics`` text, for the health page's counters."""
    replay_quarantined: Replay | None = None
    """The gateway's replay of quarantined message ids (converted again with the mappings of now)."""
    explain: Callable[[bytes, str | None, str], Any] | None = None
    """``overstap explain`` over the gateway's registry: (original, mapping, route) -> an Explanation."""


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP without scripts, no framing, no caching of pages that may hold personal data, no referrer."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


FORM_BYTES = 16 * 1024
"""A console form is a few fields: anything longer is not read further (and then fails its CSRF check)."""


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind these pages send); no multipart parser needed."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def create_console(settings: ConsoleSettings, backend: Backend) -> Starlette:
    signer = Signer(settings.secret)
    audit = AuditLog(backend.db_path.parent / settings.audit_log)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(when=when, mask=mask, operation=operation)
    ready = {"base": False, "ledger": False}

    def indexed(conn: Any) -> None:
        """Write the console's indexes once (and the ledger's once its table exists), like a migration."""
        if ready["base"] and (ready["ledger"] or not queries.has_table(conn, "zaak_state")):
            return
        from gateway.deliver import outbox

        rw = outbox.connect(backend.db_path)
        try:
            ready["ledger"] = queries.ensure_indexes(rw)
            ready["base"] = True
        finally:
            rw.close()

    started = time.perf_counter()  # indexes now, at start-up: built later they would hold up acknowledgements
    with contextlib.closing(queries.connect_ro(backend.db_path)) as first:
        indexed(first)
    if time.perf_counter() - started > 1:
        log.info("console indexes built in %.1f s (once per outbox)", time.perf_counter() - started)

    async def read(fn: Callable[..., Any], *args: Any) -> Any:
        """Run a query on its own read-only connection in a thread (the event loop keeps acknowledging)."""
        def run() -> Any:
            conn = queries.connect_ro(backend.db_path)
            try:
                indexed(conn)
                return fn(conn, *args)
            finally:
                conn.close()
        return await asyncio.to_thread(run)

    sessions = SessionStore(backend.db_path)

    async def session_of(request: Request) -> Session | None:
        """The signed cookie's session while the store still has it (a logout ends every copy of the cookie)."""
        session = signer.load(request.cookies.get(COOKIE))
        if session is None or not await asyncio.to_thread(sessions.live, session):
            return None
        return session

    def page(request: Request, name: str, session: Session | None, status: int = 200, **context: Any) -> Response:
        csrf = signer.csrf(session.nonce) if session else ""
        return templates.TemplateResponse(request, name, {"session": session, "csrf": csrf, "base": request.scope.get(
            "root_path", ""), **context}, status_code=status)

    def to_login(request: Request) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + "/login", status_code=303)

    def forbidden(request: Request, session: Session | None, why: str) -> Response:
        return page(request, "error.html", session, 403, why=why)

    async def checked_form(request: Request, session: Session) -> dict[str, str] | None:
        """The posted form when its CSRF token belongs to this session; None otherwise."""
        data = await form(request)
        return data if signer.csrf_ok(session.nonce, data.get("csrf")) else None

    async def login(request: Request) -> Response:
        base = request.scope.get("root_path", "")
        if request.method == "GET":
            nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
            response = page(request, "login.html", None, pre=signer.csrf(nonce), error=None)
            response.set_cookie(PRE_COOKIE, nonce, max_age=900, httponly=True, samesite="strict", path=base or "/")
            return response
        data = await form(request)
        if not signer.csrf_ok(request.cookies.get(PRE_COOKIE), data.get("csrf")):
            return forbidden(request, None, "the login form expired or did not come from this console")
        session = await asyncio.to_thread(check_login, settings, backend.admin_key, data.get("user", ""),
                                          data.get("password", ""))  # PBKDF2 is CPU on purpose: not on the loop
        if session is None:
            nonce = request.cookies.get(PRE_COOKIE, "")
            return page(request, "login.html", None, 401, pre=signer.csrf(nonce),
                        error="unknown user or wrong password")
        await asyncio.to_thread(sessions.add, session)
        audit.write(session.user, "login")
        response = RedirectResponse(base + "/messages", status_code=303)
        response.set_cookie(COOKIE, signer.dump(session), max_age=settings.session_minutes * 60, httponly=True,
                            samesite="strict", path=base or "/", secure=request.url.scheme == "https")
        response.delete_cookie(PRE_COOKIE, path=base or "/")
        return response

    async def logout(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        if await checked_form(request, session) is None:
            return forbidden(request, session, "missing or wrong CSRF token")
        await asyncio.to_thread(sessions.end, session)
        audit.write(session.user, "logout")
        response = to_login(request)
        response.delete_cookie(COOKIE, path=request.scope.get("root_path", "") or "/")
        return response

    async def index(request: Request) -> Response:
        return RedirectResponse(request.scope.get("root_path", "") + "/messages", status_code=303)

    async def messages(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        q = request.query_params
        status = q.get("status") or None
        if status not in (None, *queries.MESSAGE_STATUSES, *queries.DELIVERY_STATUSES):
            status = None
        f = queries.Filter(status=status, route=q.get("route") or None,
                           day_from=q.get("from") if DAY.match(q.get("from", "")) else None,
                           day_to=q.get("to") if DAY.match(q.get("to", "")) else None,
                           before=int(q["before"]) if q.get("before", "").isdigit() else None)
        rows, cursor = await read(queries.list_messages, f, settings.page_size)
        route_names = await read(queries.routes)
        next_url = "?" + urlencode(f.query(before=cursor)) if cursor else None
        first_url = "?" + urlencode(f.query(before=None)) if f.before else None
        return page(request, "messages.html", session, rows=rows, f=f, routes=route_names, next_url=next_url,
                    first_url=first_url, statuses=(*queries.MESSAGE_STATUSES, *queries.DELIVERY_STATUSES))

    async def message_page(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        message_id = int(request.path_params["id"])
        found = await read(queries.message, message_id)
        if found is None:
            return page(request, "error.html", session, 404, why=f"no message {message_id}")
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
        audit.write(session.user, "view_payload", message_id=message_id)
        return page(request, "message.html", session, m=found, deliveries=items, zaak_keys=keys, lineage=rows,
                    shadow=compared,
                    lineage_error=lineage_error, can_retry=backend.replay_quarantined is not None,
                    original=original, payloads=payloads, marked_source=marked_source, marked=marked,
                    code=berichtcode(found["original"][:4000]))

    async def confirmed(request: Request, session: Session, template: str, run: Callable[[], Awaitable[Sequence[Any]]],
                        action: str, ids: dict[str, int], **context: Any) -> Response:
        """An action with a confirmation step: GET shows what will happen; a POST with the session's CSRF token
        and ``confirm=yes`` runs it (the gateway's replay), writes the audit line and shows the gateway's note."""
        if request.method == "GET":
            return page(request, template, session, result=None, **context)
        data = await checked_form(request, session)
        if data is None:
            return forbidden(request, session, "missing or wrong CSRF token")
        if data.get("confirm") != "yes":
            return page(request, template, session, 400, result=None, **context)
        results = await run()
        result = results[0] if results else None
        audit.write(session.user, action, **ids, ok=bool(result and result.ok))
        return page(request, template, session, result=result, **context)

    async def replay(request: Request) -> Response:
        """Send a dead letter again as stored: the path of ``/admin/replay``."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        if not session.operator:
            return forbidden(request, session, "replay needs the operator role")
        delivery_id = int(request.path_params["id"])
        item = await read(queries.delivery, delivery_id)
        if item is None:
            return page(request, "error.html", session, 404, why=f"no delivery {delivery_id}")
        if item["status"] != "dead" and request.method == "POST":  # a second click, or a delivery that went fine
            return page(request, "error.html", session, 409, why=f"delivery {delivery_id} is {item['status']}: "
                        "only a dead letter is replayed here")
        return await confirmed(request, session, "replay.html", lambda: backend.replay([delivery_id]), "replay",
                               {"delivery_id": delivery_id, "message_id": item["message_id"]}, d=item)

    async def retry_quarantined(request: Request) -> Response:
        """Convert a quarantined message again (after a mapping fix): ``/admin/replay`` with quarantined."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        convert = backend.replay_quarantined
        if not session.operator or convert is None:
            return forbidden(request, session, "converting again needs the operator role")
        message_id = int(request.path_params["id"])
        found = await read(queries.message, message_id)
        if found is None or found["status"] != "quarantined":
            return page(request, "error.html", session, 404, why=f"no quarantined message {message_id}")
        return await confirmed(request, session, "retry.html", lambda: convert([message_id]), "retry_quarantined",
                               {"message_id": message_id}, m=found)

    async def purge_page(request: Request) -> Response:
        """``overstap outbox purge`` for an operator: a form, a preview (counted, read-only), then "Yes, purge"
        (POST, CSRF, ``confirm=yes``), written to the audit log with its parameters and counts."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        if not session.operator:
            return forbidden(request, session, "purge needs the operator role")
        if request.method == "GET":
            what = purge.Purge.of(request.query_params) if "days" in request.query_params else None
            if "days" in request.query_params and what is None:
                return page(request, "purge.html", session, 400, what=purge.Purge(), preview=None, result=None,
                            error=f"days: a whole number from 0 to {purge.MAX_DAYS}")
            preview = await read(purge.preview, what) if what else None
            return page(request, "purge.html", session, what=what or purge.Purge(), preview=preview, result=None,
                        error=None)
        data = await checked_form(request, session)
        if data is None:
            return forbidden(request, session, "missing or wrong CSRF token")
        what = purge.Purge.of(data)
        if what is None or data.get("confirm") != "yes":
            return page(request, "purge.html", session, 400, what=what or purge.Purge(), preview=None, result=None,
                        error="confirm the purge from its preview")
        removed = await asyncio.to_thread(purge.run, backend.db_path, what)
        audit.write(session.user, "purge", older_than_days=what.days, dead=what.dead, quarantined=what.quarantined,
                    deliveries=removed[0], messages=removed[1])
        return page(request, "purge.html", session, what=what, preview=None, result=removed, error=None)

    async def shadow_page(request: Request) -> Response:
        """``overstap shadow report`` over the newest shadow-mode messages: verdict counts, newest differences."""
        session = await session_of(request)
        if session is None:
            return to_login(request)
        route = request.query_params.get("route") or None
        lines = await read(shadow.report, route, SHADOW_WINDOW)
        counts = shadow.summary(lines)
        differing = [line for line in reversed(lines) if line.differences][:SHADOW_SHOWN]
        for line in differing:
            line.differences = [mask_text(d) for d in line.differences]
        return page(request, "shadow.html", session, counts=counts, total=len(lines), differing=differing,
                    route=route, routes=await read(queries.routes), window=SHADOW_WINDOW,
                    same=counts[shadow.BOTH] + counts[shadow.NEITHER],
                    different=counts[shadow.LEGACY_ONLY] + counts[shadow.NEW_ONLY])

    async def zaak_page(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        found = await read(queries.zaak, int(request.path_params["key"]))
        if found is None:
            return page(request, "error.html", session, 404, why="no such zaak in the ledger")
        state = json.loads(found["state"])
        events = await read(queries.timeline, found["zaak"])
        for e in events:
            e["code"] = berichtcode(e.pop("head"))
        audit.write(session.user, "view_zaak", zaak_key=found["key"])
        return page(request, "zaak.html", session, z=found, state=state, events=events,
                    bsn=(state.get("initiator") or {}).get("bsn"))

    async def clients(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        if request.method == "GET":
            return page(request, "clients.html", session, results=None, error=None)
        data = await checked_form(request, session)
        if data is None:
            return forbidden(request, session, "missing or wrong CSRF token")
        bsn = "".join(data.get("bsn", "").split())
        if not valid_bsn(bsn):
            return page(request, "clients.html", session, 400, results=None, error="not a valid BSN (9 digits, "
                        "elfproef)")
        results = await read(queries.zaken_of_client, bsn)
        audit.write(session.user, "client_search", results=len(results))
        return page(request, "clients.html", session, results=results, error=None, searched=mask(bsn))

    async def health(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            return to_login(request)
        figures = await read(queries.health)
        counters: list[tuple[str, str, float]] = []
        debt: list[tuple[str, str, int]] = []
        if backend.metrics is not None:
            from prometheus_client.parser import text_string_to_metric_families

            for family in text_string_to_metric_families(backend.metrics().decode()):
                for s in family.samples:
                    if s.name == "overstap_dialect_debt_total":
                        debt.append((s.labels["mapping"], s.labels["rule"], int(s.value)))
                    elif s.name in COUNTERS:
                        counters.append((s.name, ", ".join(f"{k}={v}" for k, v in sorted(s.labels.items())),
                                         s.value))
        debt.sort(key=lambda row: (-row[2], row[0], row[1]))
        age = time.time() - figures.oldest_pending if figures.oldest_pending else None
        return page(request, "health.html", session, h=figures, counters=counters, age=age, debt=debt,
                    debt_max=max((n for *_, n in debt), default=0))

    routes = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/messages", messages),
        Route("/messages/{id:int}", message_page),
        Route("/deliveries/{id:int}/replay", replay, methods=["GET", "POST"]),
        Route("/messages/{id:int}/retry", retry_quarantined, methods=["GET", "POST"]),
        Route("/zaken/{key:int}", zaak_page),
        Route("/clients", clients, methods=["GET", "POST"]),
        Route("/health", health),
        Route("/purge", purge_page, methods=["GET", "POST"]),
        Route("/shadow", shadow_page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])

