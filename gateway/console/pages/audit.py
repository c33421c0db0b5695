"""The audit log as a page, for operators: the newest entries, from every replica on a PostgreSQL store.

The entries hold who, when, what and ids (never a BSN, a name or care data), so showing them adds no personal data;
the page is an operator's because it tells who looked at which client's zaak.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from ..auditlog import BUDGET, why_unread, why_unwritten
from ..context import Console

log = logging.getLogger("overstap.console")

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
    try:
        found = await asyncio.to_thread(console.audit.recent, AUDIT_SHOWN)
    except Exception as exc:  # a dropped table, a lost connection, a directory in the file's place: say so, no 500
        log.error("console audit log not read", extra={"user": session.user, "error_type": type(exc).__name__,
                                                        "reason": why_unwritten(exc)})
        return console.page(request, "audit.html", session, 503, rows=[], shown=AUDIT_SHOWN,
                            unread=why_unread(exc))
    sources = found.sources or [None] * len(found.entries)
    rows = [(e.get("time", ""), e.get("user", ""), e.get("action", ""),
             " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in FIXED), source or "")
            for e, source in zip(found.entries, sources, strict=True)]
    return console.page(request, "audit.html", session, rows=rows, shown=AUDIT_SHOWN, skipped=found.skipped,
                        cut=found.cut, budget_mib=BUDGET // (1024 * 1024), imported=any(sources))
