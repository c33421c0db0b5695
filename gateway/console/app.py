"""The console's app: its routes, login, messages, one message (with replay and re-convert), zaken, client search and
health.

Pages are rendered on the server (Jinja2, autoescaped) with one CSS file and no JavaScript, so the
Content-Security-Policy can forbid every script. Reads run in a thread on a read-only connection; a replay
goes through the function the proxy hands in (the gateway's own replay, as ``/admin/replay`` uses), and so does a
re-conversion (``reconvert_through``, as ``/admin/reconvert`` uses). This
module only wires: the handlers live in ``pages/`` and share one ``Console`` (``context.py``).
"""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .context import FORM_BYTES, HERE, Backend, Console, FormTooLarge
from .pages import audit, health, messages, purge, reconvert, shadow, signin, zaken
from .params import MAX_ROWID
from .settings import ConsoleSettings

__all__ = ["Backend", "create_console"]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
Handler = Callable[[Console, Request], Awaitable[Response]]
log = logging.getLogger("overstap.console")
FAILED = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error · Overstap console</title>"
          "</head><body><h1>Something went wrong</h1><p>This page failed. The sidecar's log has the cause under "
          "reference <code>{reference}</code>.</p></body></html>")


def failed(request: Request, exc: Exception) -> Response:
    """A plain 500 page for an exception no handler expected. The log gets a reference to find it by, the
    exception's type, the route's path template and the code line; never its message or the request's values,
    which may hold a BSN, a name or care data (so no traceback either: uvicorn's would print the message)."""
    reference = secrets.token_hex(4)
    frames = traceback.extract_tb(exc.__traceback__)
    at = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    log.error("console page failed", extra={"reference": reference, "error_type": type(exc).__name__,
                                            "route": getattr(request.scope.get("route"), "path", "?"),
                                            "method": request.method, "at": at})
    return HTMLResponse(FAILED.format(reference=reference), status_code=500)


class SecurityHeaders(BaseHTTPMiddleware):
    """CSP without scripts, no framing, no caching of pages that may hold personal data, no referrer; on every
    answer, a 500 of an unexpected exception too (answered here, so it never reaches the server's own handler)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:
            response = failed(request, exc)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        return response


def bound(console: Console, path: str, handler: Handler, methods: list[str] | None = None) -> Route:
    """A route to a handler with the console bound in, named as the handler (what ``url_for`` would use). An id
    in the path past SQLite's largest row id names no row: 404 here (bound to a query it would overflow)."""
    async def endpoint(request: Request) -> Response:
        if any(isinstance(v, int) and v > MAX_ROWID for v in request.path_params.values()):
            return await no_such_row(console, request)
        return await handler(console, request)
    return Route(path, endpoint, methods=methods, name=handler.__name__)


async def no_such_row(console: Console, request: Request) -> Response:
    """The 404 of an id too large to be a row, for a logged-in user (anyone else goes to the login page)."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    return console.page(request, "error.html", session, 404, why=f"no such row: ids go up to {MAX_ROWID}")


def create_console(settings: ConsoleSettings, backend: Backend) -> Starlette:
    """The console as an app to mount (the sidecar mounts it at ``/console``); builds its indexes now."""
    console = Console(settings, backend)
    routes: list[BaseRoute] = [
        bound(console, "/", signin.index),
        bound(console, "/login", signin.login, ["GET", "POST"]),
        bound(console, "/logout", signin.logout, ["POST"]),
        bound(console, "/messages", messages.messages),
        bound(console, "/messages/{id:int}", messages.message_page),
        bound(console, "/deliveries/{id:int}/replay", messages.replay, ["GET", "POST"]),
        bound(console, "/messages/{id:int}/retry", messages.retry_quarantined, ["GET", "POST"]),
        bound(console, "/reconvert", reconvert.reconvert_page, ["GET", "POST"]),
        bound(console, "/zaken/{key:int}", zaken.zaak_page),
        bound(console, "/clients", zaken.clients, ["GET", "POST"]),
        bound(console, "/health", health.health),
        bound(console, "/purge", purge.purge_page, ["GET", "POST"]),
        bound(console, "/shadow", shadow.shadow_page),
        bound(console, "/audit", audit.audit_page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def too_large(request: Request, exc: Exception) -> Response:
        return console.page(request, "error.html", None, 413, why=f"the form is larger than {FORM_BYTES // 1024} KiB: "
                            "nothing was done (a bulk action takes at most 200 messages at a time)")

    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={FormTooLarge: too_large})
    app.state.console = console  # the sidecar closes it at shutdown (a mounted app's own lifespan never runs)
    return app
