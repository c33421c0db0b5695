"""The audit log as a page, for operators: the newest entries, from every replica on a PostgreSQL store, filtered
by user, action, an id the entry names, a time range and (on PostgreSQL) the source, and paged back to the first.

The entries hold who, when, what and ids (never a BSN, a name or care data), so showing them adds no personal data;
the page is an operator's because it tells who looked at which client's zaak. A search here is not itself audited
(docs/console.md, *Security and privacy rules*): it shows no personal data, as the other views that are not.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from .. import auditquery, params
from ..auditlog import BUDGET, why_unread, why_unwritten
from ..context import Console
from ..source import PgSource

log = logging.getLogger("overstap.console")

AUDIT_SHOWN = 200
"""Entries a page; the whole log stays in the file or the store's ``console_audit``, reached by Older and Newer."""
FIXED = ("time", "user", "action")


async def audit_page(console: Console, request: Request) -> Response:
    """:data:`AUDIT_SHOWN` audit entries that pass the address's filters, newest first, from its cursor; 403 for a
    viewer, 400 naming a bad parameter, 503 when the log cannot be read."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if not session.operator:
        return console.forbidden(request, session, "the audit log is for the operator role")
    pg = isinstance(console.source, PgSource)
    form = {"actions": auditquery.ACTIONS, "kinds": auditquery.KINDS, "pg": pg, "q": request.query_params}
    try:
        f = auditquery.parse(request.query_params, pg)
        found = await asyncio.to_thread(console.audit.page, f, AUDIT_SHOWN)
    except params.BadParameter as e:
        return console.page(request, "error.html", session, 400, why=str(e))
    except Exception as exc:  # a dropped table, a lost connection, a directory in the file's place: say so, no 500
        log.error("console audit log not read", extra={"user": session.user, "error_type": type(exc).__name__,
                                                        "reason": why_unwritten(exc)})
        return console.page(request, "audit.html", session, 503, rows=[], shown=AUDIT_SHOWN,
                            unread=why_unread(exc), **form)
    sources = found.sources or [None] * len(found.entries)
    rows = [(e.get("time", ""), e.get("user", ""), e.get("action", ""),
             " ".join(f"{k}={v}" for k, v in sorted(e.items()) if k not in FIXED), source or "")
            for e, source in zip(found.entries, sources, strict=True)]
    older = "?" + urlencode(f.query(before=found.older)) if found.older is not None else None
    newer = "?" + urlencode(f.query(after=found.newer)) if found.newer is not None else None
    newest = "?" + urlencode(f.query()) if f.before is not None or f.after is not None else None
    return console.page(request, "audit.html", session, rows=rows, shown=AUDIT_SHOWN, skipped=found.skipped,
                        cut=found.cut, cut_newer=found.cut_newer, budget_mib=BUDGET // (1024 * 1024),
                        imported=any(sources), f=f, older=older, newer=newer, newest=newest, **form)
