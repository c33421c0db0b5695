"""``overstap outbox purge`` for an operator, as a page: a form, a counted read-only preview, then the purge.

Apart from the message pages because it is the console's only bulk write; the counting and deleting themselves
live in ``gateway/console/purge.py``. The confirm form carries the preview's cut-off and counts back, so the
purge removes no row the preview did not count (see there).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from .. import purge
from ..auth import Session
from ..context import Console
from ..display import when


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
            return refused(console, request, session, 400, f"days: a whole number from 0 to {purge.MAX_DAYS}")
        seen = None
        if what:
            before = purge.cut_off(what)
            seen = purge.Previewed(before, *await console.read(purge.preview, what, before))
        return console.page(request, "purge.html", session, what=what or purge.Purge(), seen=seen, result=None,
                            error=None)
    return await confirmed(console, request, session)


async def confirmed(console: Console, request: Request, session: Session) -> Response:
    """"Yes, purge": with the preview's cut-off (not later than ``days`` ago now) and never more than it counted."""
    data = await console.checked_form(request, session)
    if data is None:
        return console.forbidden(request, session, "missing or wrong CSRF token")
    what = purge.Purge.of(data)
    seen = purge.Previewed.of(data)
    if what is None or seen is None or data.get("confirm") != "yes":
        return refused(console, request, session, 400, "confirm the purge from its preview")
    if seen.before > purge.cut_off(what):
        return refused(console, request, session, 400, f"the preview's cut-off is later than {what.days} day(s) "
                       "ago: preview again")
    try:
        removed = await asyncio.to_thread(purge.run, console.source.write_conn, what, seen)
    except purge.Exceeded as e:
        return refused(console, request, session, 409, f"the outbox changed since the preview: this purge would "
                       f"remove {e.removed[0]} delivery(ies) and {e.removed[1]} message(s), more than the "
                       f"{seen.deliveries} and {seen.messages} previewed. Nothing was removed: preview again.", what)
    if console.backend.purged is not None and what.quarantined:  # room made: /readyz and refusals see it now
        console.backend.purged()
    unaudited = await console.record_done(session.user, "purge", older_than_days=what.days, dead=what.dead,
                                          quarantined=what.quarantined, cut_off=when(seen.before),
                                          deliveries=removed[0], messages=removed[1])
    return console.page(request, "purge.html", session, what=what, seen=None, result=removed, error=None,
                        audit_failed=unaudited)


def refused(console: Console, request: Request, session: Session, status: int, why: str,
            what: purge.Purge | None = None) -> Response:
    """The purge form again with why nothing was purged."""
    return console.page(request, "purge.html", session, status, what=what or purge.Purge(), seen=None, result=None,
                        error=why)
