"""Signing in and out: the login form (CSRF-protected by a short-lived ``pre`` cookie), the session cookie, logout.

Apart from the pages because it is the one place that creates and ends sessions, and the only form checked
against the ``pre`` cookie rather than a session.
"""

from __future__ import annotations

import asyncio
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..auth import COOKIE, PRE_COOKIE, check_login
from ..context import Console, base, form
from ..logins import Busy


async def login(console: Console, request: Request) -> Response:
    root = base(request)
    signer = console.signer
    secure = console.secure(request)
    hint = secure and request.url.scheme != "https"  # a browser will not keep the cookies: say why
    if request.method == "GET":
        nonce = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(16)
        response = console.page(request, "login.html", None, pre=signer.csrf(nonce), error=None, hint=hint)
        response.set_cookie(PRE_COOKIE, nonce, max_age=900, httponly=True, samesite="strict", path=root or "/",
                            secure=secure)
        return response
    data = await form(request)
    if not signer.csrf_ok(request.cookies.get(PRE_COOKIE), data.get("csrf")):
        return console.forbidden(request, None, "the login form expired or did not come from this console")
    try:  # PBKDF2 is CPU on purpose: not on the loop, nor on the pool the sidecar's own work shares
        session = await console.logins.run(check_login, console.settings, console.backend.admin_key,
                                           data.get("user", ""), data.get("password", ""))
    except Busy:
        response = console.page(request, "login.html", None, 503, pre=signer.csrf(request.cookies.get(PRE_COOKIE, "")),
                                error="too many logins at once: try again in a few seconds", hint=hint)
        response.headers["Retry-After"] = "5"
        return response
    if session is None:
        nonce = request.cookies.get(PRE_COOKIE, "")
        return console.page(request, "login.html", None, 401, pre=signer.csrf(nonce),
                            error="unknown user or wrong password", hint=hint)
    await asyncio.to_thread(console.sessions.add, session, console.fingerprint(session) or "")
    await console.record(session.user, "login")
    response = RedirectResponse(root + "/messages", status_code=303)
    response.set_cookie(COOKIE, signer.dump(session), max_age=console.settings.session_minutes * 60, httponly=True,
                        samesite="strict", path=root or "/", secure=secure)
    response.delete_cookie(PRE_COOKIE, path=root or "/", secure=secure)
    return response


async def logout(console: Console, request: Request) -> Response:
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if await console.checked_form(request, session) is None:
        return console.forbidden(request, session, "missing or wrong CSRF token")
    await asyncio.to_thread(console.sessions.end, session)
    await console.record(session.user, "logout")
    response = console.to_login(request)
    response.delete_cookie(COOKIE, path=base(request) or "/", secure=console.secure(request))
    return response


async def index(console: Console, request: Request) -> Response:
    return RedirectResponse(base(request) + "/messages", status_code=303)
