"""The audit log as a page, for operators: the newest entries, from every replica on a PostgreSQL store.

The entries hold who, when, what and ids (never a BSN, a name or care data), so showing them adds no personal data;
the page is an operator's because it tells who looked at which client's zaak.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from ..context import Console

AUDIT_SHOWN = 200
"""The newest this many entries; the whole log stays in the file or the store's ``console_audit``."""
FIXED = ("time", "user", "action")


async def audit_page(console: Console, request: Request) -> Response:
    """The newest :data:`AUDIT_SHOWN` audit entries, newest first; 403 for a viewer."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if not session.operator:
        return console.forbidden(request, session, "the audit log is for the operator role")
    entries = await asyncio.to_thread(console.audit.recent, AUDIT_SHOWN)
    rows = [(e.get("time", ""), e.get("user", ""), e.get("action", ""),
             " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in FIXED)) for e in entries]
    return console.page(request, "audit.html", session, rows=rows, shown=AUDIT_SHOWN)
