"""``overstap outbox purge`` for an operator, as a page: a form, a counted read-only preview, then the purge.

Apart from the message pages because it is the console's only bulk write; the counting and deleting themselves
live in ``gateway/console/purge.py``.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from .. import purge
from ..context import Console


async def purge_page(console: Console, request: Request) -> Response:
    """``overstap outbox purge`` for an operator: a form, a preview (counted, read-only), then "Yes, purge"
    (POST, CSRF, ``confirm=yes``), written to the audit log with its parameters and counts."""
    session = await console.session_of(request)
    if session is None:
        return console.to_login(request)
    if not session.operator:
        return console.forbidden(request, session, "purge needs the operator role")
    if request.method == "GET":
        what = purge.Purge.of(request.query_params) if "days" in request.query_params else None
        if "days" in request.query_params and what is None:
            return console.page(request, "purge.html", session, 400, what=purge.Purge(), preview=None, result=None,
                                error=f"days: a whole number from 0 to {purge.MAX_DAYS}")
        preview = await console.read(purge.preview, what) if what else None
        return console.page(request, "purge.html", session, what=what or purge.Purge(), preview=preview,
                            result=None, error=None)
    data = await console.checked_form(request, session)
    if data is None:
        return console.forbidden(request, session, "missing or wrong CSRF token")
    what = purge.Purge.of(data)
    if what is None or data.get("confirm") != "yes":
        return console.page(request, "purge.html", session, 400, what=what or purge.Purge(), preview=None,
                            result=None, error="confirm the purge from its preview")
    removed = await asyncio.to_thread(purge.run, console.backend.db_path, what)
    console.audit.write(session.user, "purge", older_than_days=what.days, dead=what.dead,
                        quarantined=what.quarantined, deliveries=removed[0], messages=removed[1])
    return console.page(request, "purge.html", session, what=what, preview=None, result=removed, error=None)
